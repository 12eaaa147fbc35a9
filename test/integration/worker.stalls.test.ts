import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord, DeferredType, getJob } from '../../src/index.js';
import { encodeResult } from '../../src/call/call.js';
import { producerQueue } from '../../src/queues.js';
import { storedResult } from '../../src/outbox/records.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, REDIS_URL, setup, type Harness } from '../helpers.js';

describe.each(ALL_DB_KINDS)('a job past the stall limit, and a job BullMQ failed after its work committed, on %s', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });
  const start = () => setup(kind, {}, false, { entities: [...ENTITIES, DeferredJobRecord] }).then((harness) => (h = harness));
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 's', balance: 10, note: null }));
  const balance = async (id: number) => (await h!.dataSource.manager.findOneByOrFail(Account, { id })).balance;
  const row = (id: string) => h!.dataSource.manager.findOneByOrFail(DeferredJobRecord, { id });

  /** A worker that takes the next job and dies with it: its lock expires after 500 ms and nobody finishes it. */
  async function takeAndDie(then?: (jobId: string) => Promise<void>): Promise<void> {
    const url = new URL(REDIS_URL);
    const dead = new Worker('default', undefined, { connection: { host: url.hostname, port: Number(url.port || 6379) }, prefix: h!.prefix, autorun: false, lockDuration: 500 });
    try {
      const taken = await dead.getNextJob('dead-worker');
      if (then) {
        if (!taken) throw new Error('no job to take');
        await then(taken.id!);
      }
    } finally {
      await dead.close(true);
    }
  }

  it('past maxStalls, a job whose work did not commit fails with DEFER_ERR_STALLED, not retried, and its row says so', async () => {
    await start();
    const a = await account();
    const job = await DeferredType({ attempts: 3 })(a, h!.dataSource, 'ann', 'deposit', 5);
    await takeAndDie();
    await h!.startWorker({ relay: false, maxStalls: 0, stalledIntervalMs: 200 });
    const err = await failure(job.result({ timeoutMs: 15_000 }));
    expect([err.code, err.details.remoteCode]).toEqual(['DEFER_ERR_JOB_FAILED', 'DEFER_ERR_STALLED']);
    const bull = (await producerQueue('default').getJob(job.id))!;
    expect([bull.stalledCounter, bull.attemptsMade]).toEqual([1, 1]);
    expect(await row(job.id)).toMatchObject({ state: 'failed', error: expect.stringContaining('maxStalls (0)') });
    expect(await balance(a.id)).toBe(10);
  });

  it('past maxStalls, a job whose work had committed is acknowledged: completed everywhere, with its stored result', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 'ann', 'deposit', 5);
    // The dead worker committed the job's work (the row is completed in the same transaction), then died.
    await takeAndDie((id) => h!.dataSource.manager.update(DeferredJobRecord, { id }, { state: 'completed', result: storedResult(encodeResult(15)) }).then(() => undefined));
    await h!.startWorker({ relay: false, maxStalls: 0, stalledIntervalMs: 200 });
    expect(await job.result({ timeoutMs: 15_000 })).toBe(15);
    expect(await producerQueue('default').getJobState(job.id)).toBe('completed');
    expect(await balance(a.id)).toBe(10);
  });

  it('a job BullMQ failed while its row says its work committed is completed for the handle, getJob and snapshot', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 'ann', 'deposit', 5);
    await takeAndDie(async (id) => {
      await h!.dataSource.manager.update(DeferredJobRecord, { id }, { state: 'completed', result: storedResult(encodeResult(15)) });
      const bull = (await producerQueue('default').getJob(id))!;
      await bull.moveToFailed(new Error('job stalled more than allowable limit'), 'dead-worker');
    });
    expect(await producerQueue('default').getJobState(job.id)).toBe('failed');
    expect(await job.state()).toBe('completed');
    expect(await job.result({ timeoutMs: 1_000 })).toBe(15);
    const snap = await (await getJob(job.id))!.snapshot();
    expect(snap).toMatchObject({ state: 'completed', percent: 100, result: 15 });
    expect(snap.error).toBeUndefined();
  });
});
