import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredType } from '../../src/index.js';
import { failure } from '../assert.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

/** A real pino logger writing JSON lines into memory. */
function memoryPino() {
  const records: Array<Record<string, any>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

describe('the worker logs through a pino logger', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('logs its start (queues, concurrency) and stop at info, and each completed job with structured fields when verbose', async () => {
    const { logger, records } = memoryPino();
    h = await setup('sqlite', {}, false);
    const worker = await h.startWorker({ logger, verbose: true, queues: { high: 2, default: 1, low: 0 }, relay: false });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'l', balance: 1, note: null }));
    const job = await Deferred(a, h.dataSource, 'ann', 'deposit', 2);
    await job.result({ timeoutMs: 10_000 });
    await worker.close();
    const started = records.find((r) => r.msg === 'worker started')!;
    expect(started).toMatchObject({ level: 30, queues: { high: 2, default: 1, low: 0 }, prefix: h.prefix });
    const done = records.find((r) => r.msg === 'job completed')!;
    expect(done).toMatchObject({ level: 30, jobId: job.id, queue: 'default', call: 'Account.deposit', attempt: 1 });
    expect(done.durationMs).toEqual(expect.any(Number));
    expect(records.at(-1)).toMatchObject({ level: 30, msg: 'worker stopped' });
  });

  it('logs a failed attempt that will be retried at warn and the final one at error, with err as an Error (its stack kept)', async () => {
    const { logger, records } = memoryPino();
    h = await setup('sqlite', {}, false);
    await h.startWorker({ logger, relay: false });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'l', balance: 1, note: null }));
    const job = await DeferredType({ attempts: 2 })(a, h.dataSource, 'ann', 'depositThenFail', 1, 'boom in the method');
    await failure(job.result({ timeoutMs: 10_000 }));
    const failures = records.filter((r) => r.jobId === job.id && r.err);
    expect(failures.map((r) => [r.level, r.msg, r.attempt])).toEqual([[40, 'job failed; it will be retried', 1], [50, 'job failed', 2]]);
    for (const r of failures) {
      expect(r).toMatchObject({ queue: 'default', call: 'Account.depositThenFail', durationMs: expect.any(Number) });
      expect(r.err).toMatchObject({ type: 'Error', message: 'boom in the method' });
      expect(r.err.stack).toContain('depositThenFail');
    }
    // No failure is logged at info.
    expect(records.filter((r) => r.level === 30 && r.jobId === job.id)).toEqual([]);
  });

  it('refuses a logger that is not pino-compatible, naming the missing methods', async () => {
    h = await setup('sqlite', {}, false);
    const err = await failure(h.startWorker({ logger: { info: () => undefined } as never }));
    expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(err.message).toContain('no warn, error method');
  });

  it('a logger that throws never fails a job whose work is done', async () => {
    h = await setup('sqlite', {}, false);
    const boom = () => { throw new Error('logger down'); };
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'l', balance: 1, note: null }));
    const job = await Deferred(a, h.dataSource, 'ann', 'deposit', 2);
    await h.startWorker({ logger: { info: (f) => { if ('jobId' in f) boom(); }, warn: boom, error: boom }, verbose: true, relay: false });
    expect(await job.result({ timeoutMs: 10_000 })).toBe(3);
    expect(await job.state()).toBe('completed');
  });
});
