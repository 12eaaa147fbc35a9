import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord, jobsFor, listJobs, pruneJobs, relayPendingJobs } from '../../src/index.js';
import { newRecord } from '../../src/outbox/records.js';
import { PRODUCER_READY_TIMEOUT_MS, producerQueue } from '../../src/queues.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, setup, type Harness } from '../helpers.js';
import { startPrivateRedis } from '../redis-server.js';

const RECORDING = [...ENTITIES, DeferredJobRecord];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

async function jobCount(): Promise<number> {
  const counts = await producerQueue('default').getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe.each(ALL_DB_KINDS)('transactional enqueue and job records on %s', (kind) => {
  let h: Harness | undefined;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    // The harness first (its worker still talks to a private Redis), then what the test started.
    await h?.cleanup();
    h = undefined;
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const start = (worker: Parameters<typeof setup>[2] = { relay: { intervalMs: 100, olderThanMs: 0 } }, extra = {}) =>
    setup(kind, extra, worker, { entities: RECORDING, sqliteFile: true }).then((harness) => (h = harness));
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'o', balance: 10, note: null }));
  const balance = async (id: number) => (await h!.dataSource.manager.findOneByOrFail(Account, { id })).balance;
  const row = (id: string) => h!.dataSource.manager.findOneBy(DeferredJobRecord, { id });

  it('rollback: no row and no job', async () => {
    await start();
    const a = await account();
    let id = '';
    await expect(h!.dataSource.transaction(async (manager) => {
      id = (await Deferred(a, manager, 1, 'deposit', 5)).id;
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    await sleep(300);
    expect(await row(id)).toBeNull();
    expect(await jobCount()).toBe(0);
    expect(await balance(a.id)).toBe(10);
  });

  it('commit: the row is written in the caller\'s transaction, pushed after commit, and completed with the result', async () => {
    await start();
    const a = await account();
    const job = await h!.dataSource.transaction(async (manager) => {
      const j = await Deferred(a, manager, 'u1', 'deposit', 5);
      // Inside the transaction the job is not in Redis yet: a worker must not see it before the commit.
      expect(await jobCount()).toBe(0);
      return j;
    });
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    expect(await row(job.id)).toMatchObject({ state: 'completed', model: 'Account', method: 'deposit', uid: 'u1', percent: 100, recordKeys: `|${a.id}|`, attempts: 1 });
    expect((await row(job.id))!.finishedAt).toMatch(/^\d{4}-/);
  });

  it('a rolled-back savepoint drops only the jobs deferred inside it', async () => {
    await start();
    const a = await account();
    let inner = '';
    const outer = await h!.dataSource.transaction(async (manager) => {
      const kept = await Deferred(a, manager, 1, 'deposit', 5);
      await manager.transaction(async (nested) => {
        inner = (await Deferred(a, nested, 1, 'deposit', 100)).id;
        throw new Error('inner step failed');
      }).catch(() => undefined);
      return kept;
    });
    expect(await outer.result({ timeoutMs: 10_000 })).toBe(15);
    await sleep(300);
    expect(await row(inner)).toBeNull();
    expect(await jobCount()).toBe(1);
    expect(await balance(a.id)).toBe(15);
  });

  it('outside a transaction it records the row too, and a failure is recorded with its error', async () => {
    await start();
    const a = await account();
    const ok = await Deferred(a, h!.dataSource, 1, 'deposit', 1);
    const bad = await Deferred(a, h!.dataSource, 1, 'depositThenFail', 1, 'declined');
    await ok.result({ timeoutMs: 10_000 });
    await bad.result({ timeoutMs: 10_000 }).catch(() => undefined);
    expect(await row(ok.id)).toMatchObject({ state: 'completed' });
    expect(await row(bad.id)).toMatchObject({ state: 'failed', error: 'declined' });
    expect(await balance(a.id)).toBe(11);
  });

  it('Redis stopped during the commit: the job runs once Redis is back, through the relay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deferred-redis-'));
    const port = await freePort();
    let redis = await startPrivateRedis(port, dir);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => redis.kill('SIGKILL'));
    await start(false, { connection: `redis://127.0.0.1:${port}` });
    const a = await account();
    await producerQueue('default').waitUntilReady();
    redis.kill('SIGKILL');
    await sleep(200);
    const job = await h!.dataSource.transaction((manager) => Deferred(a, manager, 1, 'deposit', 5));
    expect((await row(job.id))!.state).toBe('pending');
    // Redis stays down longer than the push after the commit waits for it: only a relay can bring the job now.
    await sleep(PRODUCER_READY_TIMEOUT_MS + 500);
    redis = await startPrivateRedis(port, dir);
    await sleep(500);
    expect((await row(job.id))!.state).toBe('pending');
    expect(await jobCount()).toBe(0);
    await h!.startWorker({ relay: { intervalMs: 100, olderThanMs: 0 } });
    for (let i = 0; i < 200 && (await row(job.id))!.state !== 'completed'; i++) await sleep(100);
    expect((await row(job.id))!.state).toBe('completed');
    expect(await balance(a.id)).toBe(15);
  }, 60_000);

  it('a process killed between commit and push: the committed row is relayed and runs', async () => {
    await start(false);
    const a = await account();
    const child = spawn(process.execPath, ['dist/test/fixtures/outbox-child.js'], {
      env: { ...process.env, CHILD_DB_OPTIONS: JSON.stringify(h!.options), CHILD_REDIS_URL: 'redis://127.0.0.1:1', CHILD_PREFIX: h!.prefix, CHILD_ACCOUNT_ID: String(a.id) },
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    for (let i = 0; i < 300 && !/committed (\S+)/.test(out); i++) await sleep(50);
    const id = /committed (\S+)/.exec(out)?.[1];
    expect(id, out).toBeDefined();
    child.kill('SIGKILL');
    expect((await row(id!))!.state).toBe('pending');
    expect(await jobCount()).toBe(0);
    await h!.startWorker({ relay: { intervalMs: 100, olderThanMs: 0 } });
    for (let i = 0; i < 200 && (await row(id!))!.state !== 'completed'; i++) await sleep(100);
    expect((await row(id!))!.state).toBe('completed');
    expect(await balance(a.id)).toBe(15);
  }, 60_000);

  it('a job delivered twice applies its database effects once', async () => {
    await start();
    const a = await account();
    const job = await h!.dataSource.transaction((manager) => Deferred(a, manager, 1, 'deposit', 5));
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    // A repeated push of the same job (a relay after a lost acknowledgement, a crash…).
    const first = (await producerQueue('default').getJob(job.id))!;
    const data = first.data;
    await first.remove();
    const again = await producerQueue('default').add('Account.deposit', data, { jobId: job.id });
    for (let i = 0; i < 100 && !(await again.isCompleted()); i++) await sleep(50);
    expect(await again.isCompleted()).toBe(true);
    expect(await job.result({ timeoutMs: 5_000 })).toBe(15);
    expect(await balance(a.id)).toBe(15);
  });

  it('two relays at once push each row once', async () => {
    await start(false);
    const a = await account();
    const rows = Array.from({ length: 20 }, (_, i) => newRecord(`pending-${i}-${h!.prefix}`, {
      v: 1, ds: 'main', target: { kind: 'records', entity: 'Account', ids: [{ id: a.id }], many: false }, method: 'deposit', uid: 1,
      args: { json: [1] }, opts: { transaction: true, skipMissing: false },
    }, { queue: 'default', runAt: Date.now(), attempts: 1 }));
    await h!.dataSource.manager.insert(DeferredJobRecord, rows);
    // A second data source on the same database: two relays, two connections.
    const other = new DataSource({ ...h!.options, entities: RECORDING } as DataSourceOptions);
    await other.initialize();
    h!.closeWith({ close: () => other.destroy() });
    const [one, two] = await Promise.all([
      relayPendingJobs({ dataSource: h!.dataSource, olderThanMs: 0 }),
      relayPendingJobs({ dataSource: other, olderThanMs: 0 }),
    ]);
    expect(one + two).toBe(20);
    expect(await jobCount()).toBe(20);
    expect(await h!.dataSource.manager.countBy(DeferredJobRecord, { state: 'queued' })).toBe(20);
  });

  it('a worker with recordRetentionMs deletes finished rows on its relay rounds', async () => {
    await start({ relay: { intervalMs: 100, olderThanMs: 0 }, recordRetentionMs: -60_000 });
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'deposit', 1);
    await job.result({ timeoutMs: 10_000 });
    for (let i = 0; i < 50 && (await row(job.id)); i++) await sleep(100);
    expect(await row(job.id)).toBeNull();
  });

  it('jobsFor, listJobs and pruneJobs read and trim the history', async () => {
    await start();
    const a = await account();
    const b = await account();
    const j1 = await Deferred(a, h!.dataSource, 'ann', 'deposit', 1);
    const j2 = await Deferred([a, b], h!.dataSource, 'bob', 'deposit', 1);
    const j3 = await Deferred(Account, h!.dataSource, 'ann', 'totalBalance');
    await Promise.all([j1, j2, j3].map((j) => j.result({ timeoutMs: 10_000 })));
    expect((await jobsFor(a)).map((r) => r.id).sort()).toEqual([j1.id, j2.id].sort());
    expect((await jobsFor(Account, b.id)).map((r) => r.id)).toEqual([j2.id]);
    expect((await jobsFor(Account)).length).toBe(3);
    expect((await listJobs({ uid: 'ann' })).map((r) => r.id).sort()).toEqual([j1.id, j3.id].sort());
    expect((await listJobs({ state: 'completed', model: 'Account', since: new Date(Date.now() - 60_000), limit: 2 })).length).toBe(2);
    expect(await pruneJobs({ olderThanMs: 60_000 })).toBe(0);
    expect(await pruneJobs({ olderThanMs: -1_000 })).toBe(3);
    expect(await jobsFor(Account)).toEqual([]);
  });
});
