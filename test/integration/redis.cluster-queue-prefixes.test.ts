import { Redis, type Cluster } from 'ioredis';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanJobs, configure, Deferred, DeferredJobRecord, defineTask, getJob, HighPriorityDeferred, isQueuePaused, LowPriorityDeferred,
  pauseQueue, processNextJob, QUEUE_NAMES, relayPendingJobs, resumeQueue, startWorker, submitTask, takeTask, type DeferredWorker, type QueueName,
} from '../../src/index.js';
import { reconcileRecords } from '../../src/outbox/reconcile.js';
import { newRecord } from '../../src/outbox/records.js';
import { drainQueues } from '../../testing/index.js';
import { failure } from '../assert.js';
import { Account } from '../fixtures/entities.js';
import { REDIS_URL } from '../helpers.js';
import { clusterFixture } from '../cluster-fixture.js';
import { masterOf, tagsOnDifferentMasters } from '../redis-cluster.js';

const handled = defineTask('cluster-queue-prefixes', (n: number) => n * 2);

// configure({ queuePrefixes }): each queue under its own {hash tag}, so the three queues can live on
// different masters of a Redis Cluster, while the library's own keys (cancel marks) stay under `prefix`.
describe('on a Redis Cluster, with a {hash tag} per queue', () => {
  const f = clusterFixture();
  let client: Cluster;
  let ds: DataSource;
  let worker: DeferredWorker | undefined;
  const run = Date.now().toString(36);
  const prefix = `{dq${run}}`;
  let queuePrefixes: Record<QueueName, string>;
  let masters: Record<QueueName, string>;

  beforeAll(async () => {
    ({ client, ds } = f);
    // Tags picked so that the three queues are served by three different masters (asked of the cluster, not assumed).
    const [high, dflt, low] = await tagsOnDifferentMasters(client, `dq${run}`);
    queuePrefixes = { high, default: dflt, low };
    masters = Object.fromEntries(await Promise.all(QUEUE_NAMES.map(async (q) => [q, await masterOf(client, `${queuePrefixes[q]}:${q}:wait`)]))) as Record<QueueName, string>;
    configure({ connection: client, prefix, queuePrefixes, dataSources: { main: ds } });
  }, 60_000);

  // Before the fixture closes the rest.
  afterAll(() => worker?.close());

  /** Whether the master that should serve `key` (by CLUSTER KEYSLOT) has it: a direct connection to that node, no redirection. */
  async function onItsMaster(key: string): Promise<{ master: string; exists: boolean }> {
    const master = await masterOf(client, key);
    const [host, port] = master.split(':');
    const node = new Redis({ host, port: Number(port), lazyConnect: true });
    try {
      return { master, exists: (await node.exists(key)) === 1 };
    } finally {
      node.disconnect();
    }
  }

  it('puts the three queues on different masters and runs jobs there: enqueue, worker, getJob, cancel, relay, reconcile', async () => {
    expect(new Set(Object.values(masters)).size, JSON.stringify(masters)).toBeGreaterThanOrEqual(2);

    worker = await startWorker({ relay: false, queues: { high: 1, default: 2, low: 1 } });
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'q', balance: 10, note: null }));

    // One job on each queue; each lands under its queue's prefix, on that queue's master.
    const jobs = { high: await HighPriorityDeferred(a, ds, 'ann', 'countTo', 2, 10), default: await Deferred(a, ds, 'ann', 'echo', 'd'), low: await LowPriorityDeferred(a, ds, 'ann', 'echo', 'l') };
    expect(await jobs.high.result({ timeoutMs: 15_000 })).toBe(2);
    expect(await jobs.default.result({ timeoutMs: 15_000 })).toBe('d');
    expect(await jobs.low.result({ timeoutMs: 15_000 })).toBe('l');
    for (const q of QUEUE_NAMES) {
      const key = `${queuePrefixes[q]}:${q}:${jobs[q].id}`;
      expect(await onItsMaster(key), key).toEqual({ master: masters[q], exists: true });
      // getJob(id) looks in the three queues and finds each on its own.
      const found = (await getJob(jobs[q].id))!;
      expect(found.queue).toBe(q);
      expect(await found.snapshot()).toMatchObject({ state: 'completed', queue: q });
    }
    expect(await (await getJob(jobs.high.id))!.progress()).toEqual({ percent: 100, message: 'step 2 of 2' });
    expect(await getJob('no-such-job')).toBeUndefined();

    // Cancel of a running job: the job on low's master, the cancel mark and message under `prefix`.
    const running = await LowPriorityDeferred(a, ds, 'ann', 'wait', 10_000);
    for (let i = 0; i < 200 && (await running.state()) !== 'active'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await running.cancel()).toBe(true);
    expect((await failure(running.result({ timeoutMs: 15_000 }))).code).toBe('DEFER_ERR_CANCELLED');
    expect(await (await getJob(running.id))!.state()).toBe('cancelled');
    expect((await onItsMaster(`${prefix}:deferred-cancelled:${running.id}`)).exists).toBe(true);

    // The relay: rows on the three queues and one cancelled before its push, checked with pipelines
    // that mix job keys of three masters and cancel marks (one pipeline per prefix on a cluster).
    const record = (id: string, queue: QueueName, amount: number) => newRecord(id, {
      v: 1, ds: 'main', target: { kind: 'records', entity: 'Account', ids: [{ id: a.id }], many: false }, method: 'deposit', uid: 'ann',
      args: { json: [amount] }, opts: { transaction: true, skipMissing: false },
    }, { queue, runAt: Date.now(), attempts: 1 });
    const ids = Object.fromEntries(QUEUE_NAMES.map((q) => [q, `relayed-${q}-${run}`])) as Record<QueueName, string>;
    for (const q of QUEUE_NAMES) await ds.manager.insert(DeferredJobRecord, record(ids[q], q, 1));
    const withdrawn = `relayed-cancelled-${run}`;
    await ds.manager.insert(DeferredJobRecord, record(withdrawn, 'high', 100));
    expect(await (await getJob(withdrawn))!.cancel()).toBe(true);
    expect(await relayPendingJobs({ olderThanMs: 0 })).toBe(3);
    for (const q of QUEUE_NAMES) {
      const job = (await getJob(ids[q]))!;
      expect(job.queue).toBe(q);
      await job.result({ timeoutMs: 15_000 });
    }
    expect(await (await getJob(withdrawn))!.state()).toBe('cancelled');
    // A second round finds every row settled: nothing pushed twice.
    expect(await relayPendingJobs({ olderThanMs: 0 })).toBe(0);

    // The reconciliation reads rows of the three queues in one round: rows put back to 'queued' are finished again from BullMQ.
    const back = [jobs.high.id, jobs.default.id, jobs.low.id];
    await ds.manager.update(DeferredJobRecord, back, { state: 'queued', finishedAt: null, createdAt: new Date(Date.now() - 60_000).toISOString() });
    expect(await reconcileRecords(ds, { olderThanMs: 0 })).toBe(3);
    for (const id of back) expect(await ds.manager.findOneBy(DeferredJobRecord, { id })).toMatchObject({ state: 'completed' });
  }, 60_000);

  it('queue control, by-hand consumers, cleaning and the testing subpath reach each queue under its own prefix', async () => {
    await worker?.close();
    worker = undefined;
    // pauseQueue: the paused flag is in that queue's meta key, on its master.
    await pauseQueue('high');
    expect(await isQueuePaused('high')).toBe(true);
    expect(await isQueuePaused('low')).toBe(false);
    expect(await client.hget(`${queuePrefixes.high}:high:meta`, 'paused')).toBe('1');
    await resumeQueue('high');
    expect(await isQueuePaused('high')).toBe(false);

    const a = await ds.manager.save(ds.manager.create(Account, { name: 'h', balance: 0, note: null }));
    // processNextJob and takeTask fetch from the queue's own keys.
    const low = await LowPriorityDeferred(a, ds, 'ann', 'deposit', 3);
    expect(await processNextJob({ queues: ['low'] })).toBe(true);
    expect(await low.result({ timeoutMs: 5_000 })).toBe(3);
    const submitted = await submitTask(handled, 21, { queue: 'high' });
    const taken = (await takeTask('high'))!;
    expect(taken.id).toBe(submitted.id);
    await taken.complete(42);
    expect(await submitted.result({ timeoutMs: 5_000 })).toBe(42);

    // drainQueues (typeorm-deferred/testing) runs what waits on every queue.
    const queued = [await HighPriorityDeferred(a, ds, 'ann', 'deposit', 1), await Deferred(a, ds, 'ann', 'deposit', 1), await LowPriorityDeferred(a, ds, 'ann', 'deposit', 1)];
    const outcomes = await drainQueues();
    expect(outcomes.map((o) => [o.queue, o.state])).toEqual([['high', 'completed'], ['default', 'completed'], ['low', 'completed']]);
    expect(outcomes.map((o) => o.id)).toEqual(queued.map((j) => j.id));

    // cleanJobs removes the finished jobs of every queue, each from its master.
    const { removed } = await cleanJobs({ olderThanMs: 0, states: ['completed', 'failed'] });
    expect(removed).toBeGreaterThanOrEqual(10);
    for (const q of QUEUE_NAMES) expect(await client.zcard(`${queuePrefixes[q]}:${q}:completed`), q).toBe(0);

    // Nothing went to the shared Redis.
    const shared = new Redis(REDIS_URL);
    try {
      for (const p of [prefix, ...Object.values(queuePrefixes)]) expect(await shared.keys(`${p}*`)).toEqual([]);
    } finally {
      shared.disconnect();
    }
  }, 60_000);
});
