import { afterEach, describe, expect, it } from 'vitest';
import { ProgressReporter, type ProgressSink } from '../../src/worker/progress.js';

/** A sink that records what the reporter writes, in order. */
class RecordingSink implements ProgressSink {
  calls: Array<{ kind: 'progress'; percent: number } | { kind: 'log'; line: string }> = [];
  get percents(): number[] {
    return this.calls.flatMap((c) => (c.kind === 'progress' ? [c.percent] : []));
  }
  get lines(): string[] {
    return this.calls.flatMap((c) => (c.kind === 'log' ? [c.line] : []));
  }
  async updateProgress(percent: number): Promise<void> {
    this.calls.push({ kind: 'progress', percent });
  }
  async log(line: string): Promise<unknown> {
    this.calls.push({ kind: 'log', line });
    return this.calls.length;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Every reporter made here is flushed afterwards so no timer outlives its test.
const reporters: ProgressReporter[] = [];
function make(sink: ProgressSink, intervalMs = 50): ProgressReporter {
  const r = new ProgressReporter(sink, intervalMs);
  reporters.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(reporters.splice(0).map((r) => r.flush()));
});

describe('ProgressReporter percentages', () => {
  it('starts at 0 with no message', () => {
    const r = make(new RecordingSink());
    expect(r.current).toEqual({ percent: 0 });
  });

  it('uses 0..100 by default', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 37 });
    expect(r.current.percent).toBe(37);
  });

  it('computes the percent from progress, valuemin and valuemax', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 5, valuemax: 20 });
    expect(r.current.percent).toBe(25);
    r.report({ progress: 150, valuemin: 100, valuemax: 200 });
    expect(r.current.percent).toBe(50);
    r.report({ progress: 1, valuemin: 0, valuemax: 3 });
    expect(r.current.percent).toBe(50);
    r.report({ progress: 2, valuemin: 0, valuemax: 3 });
    expect(r.current.percent).toBeCloseTo(66.67, 2);
    r.report({ progress: -5, valuemin: -10, valuemax: 0 });
    expect(r.current.percent).toBeCloseTo(66.67, 2);
    r.report({ progress: -1, valuemin: -10, valuemax: 0 });
    expect(r.current.percent).toBe(90);
  });

  it('clamps above 100', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 250, valuemax: 200 });
    expect(r.current.percent).toBe(100);
    r.report({ progress: 1e9 });
    expect(r.current.percent).toBe(100);
  });

  it('clamps below 0', () => {
    const r = make(new RecordingSink());
    r.report({ progress: -5 });
    expect(r.current.percent).toBe(0);
    r.report({ progress: 1, valuemin: 10, valuemax: 20 });
    expect(r.current.percent).toBe(0);
  });

  it('never decreases', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 60 });
    r.report({ progress: 40 });
    expect(r.current.percent).toBe(60);
    r.report({ progress: 1, valuemax: 10 });
    expect(r.current.percent).toBe(60);
    r.report({ progress: 7, valuemax: 10 });
    expect(r.current.percent).toBe(70);
  });

  it('ignores non-finite progress and an empty range', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 20 });
    r.report({ progress: NaN });
    r.report({ progress: Infinity });
    r.report({ progress: 5, valuemin: 10, valuemax: 10 });
    r.report({ progress: 5, valuemin: 10, valuemax: 0 });
    expect(r.current.percent).toBe(20);
  });

  it('a message-only report keeps the percent', () => {
    const r = make(new RecordingSink());
    r.report({ progress: 30 });
    r.report({ message: 'half way there' });
    expect(r.current).toEqual({ percent: 30, message: 'half way there' });
  });

  it('the written percents never decrease either', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 0);
    for (const p of [10, 50, 20, 60, 5, 100, 90]) {
      r.report({ progress: p });
      await r.flush();
    }
    expect(sink.percents).toEqual([10, 50, 60, 100]);
  });
});

describe('ProgressReporter writes', () => {
  it('message changes produce log lines, repeated messages do not', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 0);
    r.report({ message: 'loading' });
    await r.flush();
    r.report({ message: 'loading', progress: 10 });
    await r.flush();
    r.report({ message: 'saving' });
    await r.flush();
    r.report({ message: 'loading' });
    await r.flush();
    expect(sink.lines).toEqual(['loading', 'saving', 'loading']);
    expect(sink.percents).toEqual([10]);
  });

  it('the first report is written at once', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 10_000);
    r.report({ progress: 10, message: 'go' });
    await sleep(5);
    expect(sink.lines).toEqual(['go']);
    expect(sink.percents).toEqual([10]);
  });

  it('throttles: many reports within the interval produce far fewer writes', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 50);
    for (let i = 1; i <= 1000; i++) r.report({ progress: i, valuemax: 1000, message: `item ${i}` });
    await sleep(20);
    // only the leading write has happened within the interval
    expect(sink.percents.length).toBeLessThanOrEqual(1);
    expect(sink.lines.length).toBeLessThanOrEqual(1);
    await sleep(100);
    // the trailing write lands without a flush, with the latest state
    expect(sink.percents.at(-1)).toBe(100);
    expect(sink.lines.at(-1)).toBe('item 1000');
    expect(sink.percents.length).toBeLessThanOrEqual(3);
    expect(sink.lines.length).toBeLessThanOrEqual(3);
  });

  it('throttles over time: a steady stream writes about once per interval', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 50);
    const start = Date.now();
    let i = 0;
    while (Date.now() - start < 260) {
      r.report({ progress: ++i % 100, message: `tick ${i}` });
      if (i % 50 === 0) await sleep(1);
    }
    await r.flush();
    expect(i).toBeGreaterThan(100);
    // ~260 ms / 50 ms ≈ 6 writes, plus the leading one and the flush; leave room for slow machines
    expect(sink.lines.length).toBeLessThanOrEqual(12);
    expect(sink.lines.length).toBeLessThan(i / 5);
  });

  it('flush() always writes the latest state', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 10_000);
    r.report({ progress: 1, message: 'first' });
    r.report({ progress: 2, message: 'second' });
    r.report({ progress: 3, message: 'third' });
    await r.flush();
    expect(sink.percents.at(-1)).toBe(3);
    expect(sink.lines.at(-1)).toBe('third');
    expect(sink.lines).not.toContain('second');
  });

  it('flush() writes nothing when nothing changed', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 0);
    r.report({ progress: 40, message: 'x' });
    await r.flush();
    const before = sink.calls.length;
    await r.flush();
    r.report({ progress: 10, message: 'x' });
    await r.flush();
    expect(sink.calls.length).toBe(before);
  });

  it('flush() cancels the pending timer (no write after it)', async () => {
    const sink = new RecordingSink();
    const r = make(sink, 40);
    r.report({ progress: 1 });
    r.report({ progress: 2 });
    await r.flush();
    const after = sink.calls.length;
    await sleep(80);
    expect(sink.calls.length).toBe(after);
  });

  it('writes land in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const order: string[] = [];
    const sink: ProgressSink = {
      async updateProgress(p) { if (order.length === 0) await gate; order.push(`p${p}`); },
      async log(line) { order.push(line); },
    };
    const r = make(sink, 0);
    r.report({ progress: 10 });
    r.report({ progress: 20 });
    r.report({ progress: 30, message: 'm' });
    setTimeout(release, 20);
    await r.flush();
    expect(order).toEqual(['p10', 'p20', 'm', 'p30']);
  });
});

describe('ProgressReporter with a failing sink', () => {
  it('a sink that throws synchronously does not make report()/flush() throw', async () => {
    const sink: ProgressSink = {
      updateProgress() { throw new Error('redis down'); },
      log() { throw new Error('redis down'); },
    };
    const r = make(sink, 0);
    expect(() => r.report({ progress: 10, message: 'a' })).not.toThrow();
    expect(() => r.report({ progress: 20 })).not.toThrow();
    await expect(r.flush()).resolves.toBeUndefined();
    expect(r.current).toEqual({ percent: 20, message: 'a' });
  });

  it('a sink that rejects does not make report()/flush() throw', async () => {
    const sink: ProgressSink = {
      updateProgress: () => Promise.reject(new Error('redis down')),
      log: () => Promise.reject(new Error('redis down')),
    };
    const r = make(sink, 0);
    r.report({ progress: 10, message: 'a' });
    await expect(r.flush()).resolves.toBeUndefined();
    r.report({ progress: 50, message: 'b' });
    await expect(r.flush()).resolves.toBeUndefined();
  });

  it('a sink that fails once keeps working afterwards', async () => {
    const sink = new RecordingSink();
    let fail = true;
    const flaky: ProgressSink = {
      async updateProgress(p) { if (fail) { fail = false; throw new Error('blip'); } return sink.updateProgress(p); },
      log: (line) => sink.log(line),
    };
    const r = make(flaky, 0);
    r.report({ progress: 10 });
    await r.flush();
    r.report({ progress: 20 });
    await r.flush();
    expect(sink.percents).toEqual([20]);
  });
});
