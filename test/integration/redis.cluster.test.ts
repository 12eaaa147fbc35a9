import { describe, expect, it } from 'vitest';
import { configure, Deferred, DeferredJobRecord, getJob, relayPendingJobs, startWorker } from '../../src/index.js';
import { newRecord } from '../../src/outbox/records.js';
import { failure, thrown } from '../assert.js';
import { Account } from '../fixtures/entities.js';
import { REDIS_URL } from '../helpers.js';
import { clusterFixture } from '../cluster-fixture.js';
import { masterOf, tagsOnDifferentMasters } from '../redis-cluster.js';
import { Redis } from 'ioredis';

// Redis Cluster: a Cluster connection is used as it is (it was quietly replaced by 127.0.0.1:6379),
// a prefix without a hash tag is refused, and the core path runs on a 3-master loopback cluster.
describe('on a Redis Cluster', () => {
  const f = clusterFixture();
  const prefix = `{dc${Date.now().toString(36)}}`;

  it('refuses a prefix without a hash tag, saying how to fix it, and a connection object that is not one', () => {
    const { client, ds } = f;
    const err = thrown(() => configure({ connection: client, prefix: 'deferred', dataSources: { main: ds } }));
    expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(err.message).toContain("'{deferred}'");
    class SomeOtherClient { url = 'redis://127.0.0.1:6379'; }
    const other = thrown(() => configure({ connection: new SomeOtherClient() as never, dataSources: { main: ds } }));
    expect(other.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(other.message).toContain('the SomeOtherClient given is not a Redis connection');
  });

  it('a plain connection to one node of the cluster is refused by a worker, and a push it cannot make says why', async () => {
    const { client, ds } = f;
    // A queue whose keys another master serves than the node the URL names: pushes there answer MOVED.
    const [node] = f.cluster.nodes;
    const tags = await tagsOnDifferentMasters(client, `dn${Date.now().toString(36)}`);
    const masters = await Promise.all(tags.map((t) => masterOf(client, t)));
    const elsewhere = tags.find((_, i) => masters[i] !== `${node.host}:${node.port}`)!;
    configure({ connection: `redis://${node.host}:${node.port}`, prefix: elsewhere, dataSources: { main: ds } });
    const worker = await failure(startWorker());
    expect(worker.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(worker.message).toContain('one node of a Redis Cluster');
    expect(worker.message).toContain('ioredis Cluster');
    // With the job table the row is written first and waits for a connection that works; the caller is told at once.
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'n', balance: 0, note: null }));
    const push = await failure(Deferred(a, ds, 'ann', 'deposit', 1));
    expect(push.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(push.message).toMatch(/answered "MOVED \d+ /);
    expect(await ds.manager.countBy(DeferredJobRecord, { state: 'pending' })).toBe(1);
    await ds.manager.clear(DeferredJobRecord);
  });

  it('runs jobs on the cluster: enqueue, progress, result, getJob, cancel of a running job, and the relay', async () => {
    const { client, ds } = f;
    configure({ connection: client, prefix, dataSources: { main: ds } });
    class Elsewhere { host = 'redis.example'; }
    expect((await failure(startWorker({ connection: new Elsewhere() as never }))).message).toContain('the Elsewhere given is not a Redis connection');
    f.worker = await startWorker({ relay: false, queues: { high: 1, default: 2, low: 1 } });
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'c', balance: 10, note: null }));

    const job = await Deferred(a, ds, 'ann', 'deposit', 5);
    expect(await job.result({ timeoutMs: 15_000 })).toBe(15);
    expect(await (await getJob(job.id))!.snapshot()).toMatchObject({ state: 'completed', result: 15, queue: 'default' });
    expect(await ds.manager.findOneBy(DeferredJobRecord, { id: job.id })).toMatchObject({ state: 'completed' });

    const counting = await Deferred(a, ds, 'ann', 'countTo', 3, 100);
    expect(await counting.result({ timeoutMs: 15_000 })).toBe(3);
    expect(await counting.progress()).toEqual({ percent: 100, message: 'step 3 of 3' });

    const running = await Deferred(a, ds, 'ann', 'wait', 10_000);
    for (let i = 0; i < 200 && (await running.state()) !== 'active'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await running.cancel()).toBe(true);
    expect((await failure(running.result({ timeoutMs: 15_000 }))).code).toBe('DEFER_ERR_CANCELLED');

    // A committed row whose push never happened: the relay pushes it to the cluster.
    const id = `relayed-${Date.now()}`;
    await ds.manager.insert(DeferredJobRecord, newRecord(id, {
      v: 1, ds: 'main', target: { kind: 'records', entity: 'Account', ids: [{ id: a.id }], many: false }, method: 'deposit', uid: 'ann',
      args: { json: [1] }, opts: { transaction: true, skipMissing: false },
    }, { queue: 'default', runAt: Date.now(), attempts: 1 }));
    expect(await relayPendingJobs({ olderThanMs: 0 })).toBe(1);
    expect(await (await getJob(id))!.result({ timeoutMs: 15_000 })).toBe(16);

    // Nothing went to the shared Redis.
    const shared = new Redis(REDIS_URL);
    try {
      expect(await shared.keys(`${prefix}*`)).toEqual([]);
    } finally {
      shared.disconnect();
    }
  }, 60_000);
});
