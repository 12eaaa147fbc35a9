import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord, DeferredType, getJob } from '../../src/index.js';
import { pushJob, pushRecorded } from '../../src/enqueue/push.js';
import { producerQueue, producerRedis } from '../../src/queues.js';
import { relayPendingJobs } from '../../src/outbox/relay.js';
import { markCancelled } from '../../src/worker/cancel.js';
import { reconcileRecords } from '../../src/outbox/reconcile.js';
import { newRecord, type StoredJobOptions } from '../../src/outbox/records.js';
import { encodeResult, type CallPayload } from '../../src/call/call.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, REDIS_URL, setup, type Harness } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const depositPayload = (accountId: number, amount: number): CallPayload => ({
  v: 1, ds: 'main', target: { kind: 'records', entity: 'Account', ids: [{ id: accountId }], many: false }, method: 'deposit', uid: 'ann',
  args: { json: [amount] }, opts: { transaction: true, skipMissing: false },
});
const NOW: StoredJobOptions = { queue: 'default', runAt: Date.now(), attempts: 1 };

describe.each(ALL_DB_KINDS)('the job row follows the job on %s', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });
  const start = (worker: Parameters<typeof setup>[2] = { relay: false }) =>
    setup(kind, {}, worker, { entities: [...ENTITIES, DeferredJobRecord] }).then((harness) => (h = harness));
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'o', balance: 10, note: null }));
  const balance = async (id: number) => (await h!.dataSource.manager.findOneByOrFail(Account, { id })).balance;
  const row = (id: string) => h!.dataSource.manager.findOneBy(DeferredJobRecord, { id });
  const until = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await check()); i++) await sleep(50);
    expect(await check()).toBe(true);
  };

  it('cancelling a delayed job marks its row cancelled', async () => {
    await start();
    const a = await account();
    const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 'ann', 'deposit', 5);
    // Pushed, and not written again: a relay round marks it delayed once it is older than olderThanMs.
    expect((await row(job.id))!.state).toBe('pending');
    expect(await job.state()).toBe('delayed');
    expect(await job.cancel()).toBe(true);
    expect(await row(job.id)).toMatchObject({ state: 'cancelled' });
    expect((await row(job.id))!.finishedAt).toMatch(/^\d{4}-/);
    expect(await job.state()).toBe('cancelled');
    expect((await failure(job.result({ timeoutMs: 2_000 }))).code).toBe('DEFER_ERR_CANCELLED');
  });

  it('a job cancelled while a push of it was under way is taken back out by that push and does not run', async () => {
    await start(false);
    const a = await account();
    const id = `race-${h!.prefix}`;
    await h!.dataSource.manager.insert(DeferredJobRecord, newRecord(id, depositPayload(a.id, 5), NOW));
    const handle = (await getJob(id))!;
    expect(await handle.state()).toBe('pending');
    expect(await handle.cancel()).toBe(true);
    // A push that read the row before the cancel (the push after a commit, a relay) lands afterwards.
    await pushRecorded(h!.dataSource, id, depositPayload(a.id, 5), NOW);
    expect(await producerQueue('default').getJob(id)).toBeUndefined();
    await h!.startWorker({ relay: false });
    expect(await handle.state()).toBe('cancelled');
    expect((await failure(handle.result({ timeoutMs: 2_000 }))).code).toBe('DEFER_ERR_CANCELLED');
    expect((await row(id))!.state).toBe('cancelled');
    expect(await balance(a.id)).toBe(10);
  });

  it('a cancelled job that reaches a worker anyway (pushed without the check) ends cancelled with its work rolled back', async () => {
    await start(false);
    const a = await account();
    const id = `forced-${h!.prefix}`;
    await h!.dataSource.manager.insert(DeferredJobRecord, newRecord(id, depositPayload(a.id, 5), NOW));
    expect(await (await getJob(id))!.cancel()).toBe(true);
    await pushJob(id, depositPayload(a.id, 5), NOW);
    await h!.startWorker({ relay: false });
    await until(async () => (await producerQueue('default').getJobState(id)) === 'failed');
    const handle = (await getJob(id))!;
    expect(await handle.state()).toBe('cancelled');
    expect((await failure(handle.result({ timeoutMs: 2_000 }))).code).toBe('DEFER_ERR_CANCELLED');
    expect((await row(id))!.state).toBe('cancelled');
    expect(await balance(a.id)).toBe(10);
  });

  it('a relay round marks the old pending rows whose job is in Redis queued or delayed, those cancelled meanwhile cancelled, and pushes only the missing ones, batch after batch', async () => {
    await start(false);
    const a = await account();
    const old = new Date(Date.now() - 60_000).toISOString();
    const ids = { waiting: `w-${h!.prefix}`, later: `l-${h!.prefix}`, cancelled: `c-${h!.prefix}`, missing: `m-${h!.prefix}` };
    const LATER: StoredJobOptions = { ...NOW, runAt: Date.now() + 3_600_000 };
    for (const [what, id] of Object.entries(ids)) {
      const options = what === 'later' ? LATER : NOW;
      await h!.dataSource.manager.insert(DeferredJobRecord, { ...newRecord(id, depositPayload(a.id, 5), options), createdAt: old });
      if (what === 'waiting' || what === 'later') await pushJob(id, depositPayload(a.id, 5), options);
    }
    // Cancelled after the job left Redis, its row's update lost: only the cancel mark says so.
    await markCancelled(producerRedis(), h!.prefix, ids.cancelled, 'default');
    // One row per batch: a round goes on batch after batch while they settle, so one call does all four.
    expect(await relayPendingJobs({ dataSource: h!.dataSource, limit: 1 })).toBe(1);
    expect(await row(ids.waiting)).toMatchObject({ state: 'queued' });
    expect(await row(ids.later)).toMatchObject({ state: 'delayed' });
    expect(await row(ids.cancelled)).toMatchObject({ state: 'cancelled' });
    expect(await row(ids.missing)).toMatchObject({ state: 'queued' });
    expect(await producerQueue('default').getJobState(ids.missing)).toBe('waiting');
    expect(await producerQueue('default').getJob(ids.cancelled)).toBeUndefined();
    // Nothing left for the next round.
    expect(await relayPendingJobs({ dataSource: h!.dataSource })).toBe(0);
  });

  it('after BullMQ retention removed the job, the handle, getJob and snapshot read the row', async () => {
    await start();
    const a = await account();
    const Forgotten = DeferredType({ removeOnComplete: true, removeOnFail: true });
    const ok = await Forgotten(a, h!.dataSource, 'ann', 'deposit', 5);
    const bad = await Forgotten(a, h!.dataSource, 'ann', 'depositThenFail', 1, 'declined');
    await until(async () => ['completed', 'failed'].includes((await row(bad.id))!.state) && (await row(ok.id))!.state === 'completed');
    await until(async () => (await producerQueue('default').getJobCounts('completed', 'failed')).completed === 0);
    expect(await producerQueue('default').getJob(ok.id)).toBeUndefined();

    expect(await ok.result({ timeoutMs: 2_000 })).toBe(15);
    const found = (await getJob(ok.id))!;
    expect(await found.state()).toBe('completed');
    expect(await found.result()).toBe(15);
    expect(await found.progress()).toEqual({ percent: 100 });
    expect(await found.snapshot()).toMatchObject({ id: ok.id, queue: 'default', name: 'Account.deposit', state: 'completed', percent: 100, result: 15, uid: 'ann', attemptsMade: 1, attempts: 1 });

    const err = await failure(bad.result({ timeoutMs: 2_000 }));
    expect(err.code).toBe('DEFER_ERR_JOB_FAILED');
    expect(err.details.remoteMessage).toBe('declined');
    expect(await (await getJob(bad.id))!.snapshot()).toMatchObject({ state: 'failed', error: { message: 'declined' } });
  });

  it('a retry with a backoff is recorded as delayed, the final failure as failed', async () => {
    await start();
    const a = await account();
    const job = await DeferredType({ attempts: 2, backoff: 1_000 })(a, h!.dataSource, 'ann', 'depositThenFail', 1, 'declined');
    await until(async () => (await row(job.id))!.state === 'delayed');
    expect(await row(job.id)).toMatchObject({ attempts: 1, error: 'declined', finishedAt: null });
    await until(async () => (await row(job.id))!.state === 'failed');
    expect(await row(job.id)).toMatchObject({ attempts: 2, error: 'declined' });
    expect(await balance(a.id)).toBe(10);
  });

  it('rows left active by jobs BullMQ finished without a worker to record them are finished by the worker\'s rounds', async () => {
    await start(false);
    const a = await account();
    const [stalled, unrecorded] = [`stalled-${h!.prefix}`, `unrecorded-${h!.prefix}`];
    for (const id of [stalled, unrecorded]) {
      await h!.dataSource.manager.insert(DeferredJobRecord, { ...newRecord(id, depositPayload(a.id, 5), NOW), state: 'active', startedAt: new Date(Date.now() - 120_000).toISOString() });
      await pushJob(id, depositPayload(a.id, 5), NOW);
    }
    // What BullMQ's stalled-job checker does to a job whose worker died once too often, and a
    // completion whose row update was lost (the database was unreachable at the end of the attempt).
    const dead = new Worker('default', undefined, { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) }, prefix: h!.prefix, autorun: false });
    try {
      for (let taken = await dead.getNextJob('dead-worker'); taken; taken = await dead.getNextJob('dead-worker', { block: false })) {
        if (taken.id === stalled) await taken.moveToFailed(new Error('job stalled more than allowable limit'), 'dead-worker');
        else await taken.moveToCompleted(encodeResult(15), 'dead-worker', false);
      }
    } finally {
      await dead.close();
    }
    expect(await reconcileRecords(h!.dataSource, { olderThanMs: 300_000 })).toBe(0);
    await h!.startWorker({ relay: { intervalMs: 100 } });
    await until(async () => (await row(stalled))!.state === 'failed' && (await row(unrecorded))!.state === 'completed');
    expect(await row(stalled)).toMatchObject({ error: 'job stalled more than allowable limit' });
    expect((await row(stalled))!.finishedAt).toMatch(/^\d{4}-/);
    expect(await row(unrecorded)).toMatchObject({ percent: 100 });
    expect(await (await getJob(unrecorded))!.result()).toBe(15);
  });

  it('rows left queued or delayed (their last update lost) take the outcome of a finished BullMQ job; unfinished ones are left alone', async () => {
    await start(false);
    const a = await account();
    const long = new Date(Date.now() - 120_000).toISOString();
    // Same creation time: the rounds go by id, and the unfinished one comes first.
    const ids = { waiting: `a-waiting-${h!.prefix}`, failed: `b-failed-${h!.prefix}`, completed: `c-done-${h!.prefix}` };
    for (const [outcome, id] of Object.entries(ids)) {
      await h!.dataSource.manager.insert(DeferredJobRecord, { ...newRecord(id, depositPayload(a.id, 5), NOW), state: outcome === 'completed' ? 'delayed' : 'queued', createdAt: long });
      await pushJob(id, depositPayload(a.id, 5), NOW);
    }
    const dead = new Worker('default', undefined, { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) }, prefix: h!.prefix, autorun: false });
    try {
      for (let taken = await dead.getNextJob('dead-worker'); taken; taken = await dead.getNextJob('dead-worker', { block: false })) {
        if (taken.id === ids.failed) await taken.moveToFailed(new Error('the database was down when this was recorded'), 'dead-worker');
        else if (taken.id === ids.completed) await taken.moveToCompleted(encodeResult(15), 'dead-worker', false);
        else await taken.moveToDelayed(Date.now() + 60_000, 'dead-worker');
      }
    } finally {
      await dead.close();
    }
    // One row per round: the cursor walks on past the unfinished row instead of checking it again and again.
    const rounds = [];
    for (let i = 0; i < 3; i++) rounds.push(await reconcileRecords(h!.dataSource, { olderThanMs: 60_000, limit: 1 }));
    expect(rounds).toEqual([0, 1, 1]);
    expect(await row(ids.failed)).toMatchObject({ state: 'failed', error: 'the database was down when this was recorded' });
    expect(await row(ids.completed)).toMatchObject({ state: 'completed', percent: 100 });
    expect(await (await getJob(ids.completed))!.result()).toBe(15);
    expect(await row(ids.waiting)).toMatchObject({ state: 'queued' });
  });

  it('two deliveries of one job at the same time apply its effects once', async () => {
    await start(false);
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 'ann', 'depositThenSleep', 5, 300);
    const data = (await producerQueue('default').getJob(job.id))!.data;
    // The same job id on a second queue: two workers take it at once.
    const twin = await producerQueue('high').add('Account.depositThenSleep', data, { jobId: job.id });
    await h!.startWorker({ relay: false, queues: { high: 1, default: 1, low: 0 } });
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    await until(() => twin.isCompleted());
    expect((await producerQueue('high').getJob(job.id))!.returnvalue).toEqual((await producerQueue('default').getJob(job.id))!.returnvalue);
    expect(await balance(a.id)).toBe(15);
    expect((await row(job.id))!.state).toBe('completed');
  });

  it('two deliveries at once of a job that inserts a row: the one that finds the job row completed rolls back, so one insert stays', async () => {
    await start(false);
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 'ann', 'openSiblingThenSleep', 300);
    const data = (await producerQueue('default').getJob(job.id))!.data;
    // Both deliveries read the account first: on MariaDB their snapshots predate the other's commit.
    const twin = await producerQueue('high').add('Account.openSiblingThenSleep', data, { jobId: job.id });
    await h!.startWorker({ relay: false, queues: { high: 1, default: 1, low: 0 } });
    const id = await job.result({ timeoutMs: 10_000 });
    await until(() => twin.isCompleted());
    expect((await producerQueue('high').getJob(job.id))!.returnvalue).toEqual((await producerQueue('default').getJob(job.id))!.returnvalue);
    expect(await h!.dataSource.manager.countBy(Account, { name: `sibling-of-${a.id}` })).toBe(1);
    expect(await h!.dataSource.manager.findOneByOrFail(Account, { name: `sibling-of-${a.id}` })).toMatchObject({ id });
  });
});

describe('the job table on one SQLite connection shared with an in-process worker', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('a row written while a job runs does not join that job\'s transaction (lost if it rolled back)', async () => {
    h = await setup('sqlite', {}, { relay: false }, { entities: [...ENTITIES, DeferredJobRecord] });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 's', balance: 10, note: null }));
    // A job that holds the one connection in a transaction, then rolls back on its timeout.
    const doomed = await DeferredType({ timeout: 400 })(a, h.dataSource, 'ann', 'depositThenSleep', 100, 2_000);
    for (let i = 0; i < 100 && (await doomed.state()) !== 'active'; i++) await sleep(20);
    await sleep(100);
    const next = await Deferred(a, h.dataSource, 'ann', 'deposit', 1);
    expect((await failure(doomed.result({ timeoutMs: 10_000 }))).code).toBe('DEFER_ERR_JOB_FAILED');
    expect(await next.result({ timeoutMs: 10_000 })).toBe(11);
    expect(await h.dataSource.manager.findOneBy(DeferredJobRecord, { id: next.id })).toMatchObject({ state: 'completed' });
    expect(await h.dataSource.manager.findOneBy(DeferredJobRecord, { id: doomed.id })).toMatchObject({ state: 'failed' });
  });
});
