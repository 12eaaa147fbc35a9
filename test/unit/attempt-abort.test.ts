import { describe, expect, it } from 'vitest';
import { AttemptAbort, untilAborted } from '../../src/worker/attempt-abort.js';

describe('AttemptAbort', () => {
  it('a signal asked for after the abort is already aborted, with the same reason', () => {
    const abort = new AttemptAbort();
    const reason = new Error('cancelled');
    abort.abort(reason);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it('a signal asked for before the abort hears it once; a second abort changes nothing', () => {
    const abort = new AttemptAbort();
    const heard: unknown[] = [];
    abort.signal.addEventListener('abort', () => heard.push(abort.signal.reason));
    abort.abort('first');
    abort.abort('second');
    expect(heard).toEqual(['first']);
    expect(abort.why).toBe('first');
  });

  it('untilAborted settles with the work, or rejects with the reason as soon as the attempt is aborted', async () => {
    expect(await untilAborted(Promise.resolve(7), new AttemptAbort())).toBe(7);
    const abort = new AttemptAbort();
    const never = new Promise<number>(() => undefined);
    const raced = untilAborted(never, abort);
    abort.abort(new Error('timeout'));
    await expect(raced).rejects.toThrow('timeout');
    const late = new AttemptAbort();
    late.abort(new Error('shutdown'));
    await expect(untilAborted(Promise.reject(new Error('ignored')), late)).rejects.toThrow('shutdown');
  });
});
