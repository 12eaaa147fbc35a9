import { afterEach, describe, expect, it } from 'vitest';
import { cleanJobs, DeferredJobRecord, DeferredType, type DeferredJob, type QueueName } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const Once = DeferredType({ attempts: 1 });
const OnHigh = DeferredType({ attempts: 1, queue: 'high' });

describe.each(DB_KINDS)('cleanJobs on %s with the job table', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });
  const start = () => setup(kind, {}, false, { entities: [...ENTITIES, DeferredJobRecord] }).then((harness) => (h = harness));
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'c', balance: 0, note: null }));
  const inRedis = async (job: DeferredJob) => (await producerQueue(job.queue).getJobState(job.id)) !== 'unknown';
  const row = (job: DeferredJob) => h!.dataSource.manager.findOneBy(DeferredJobRecord, { id: job.id });
  const settled = (jobs: DeferredJob[]) => Promise.all(jobs.map((j) => j.result({ timeoutMs: 15_000 }).catch(() => undefined)));
  /** Runs `jobs` to their end on a worker of this process, then stops it. */
  async function finish(jobs: DeferredJob[]): Promise<void> {
    const worker = await h!.startWorker({ relay: false });
    await settled(jobs);
    await worker.close();
  }
  /** Waits until `job` is active. */
  async function active(job: DeferredJob): Promise<void> {
    for (let i = 0; i < 300 && (await job.state()) !== 'active'; i++) await sleep(20);
    expect(await job.state()).toBe('active');
  }

  it('removes completed and failed jobs finished before the cutoff with their rows, keeps younger ones, and never touches waiting, delayed or active jobs', async () => {
    await start();
    const a = await account();
    const old = [await Once(a, h!.dataSource, 'u', 'deposit', 1), await Once(a, h!.dataSource, 'u', 'depositThenFail', 1, 'old boom')];
    await finish(old);
    await sleep(50);
    const cut = Date.now();
    await sleep(50);
    const young = [await Once(a, h!.dataSource, 'u', 'deposit', 2), await Once(a, h!.dataSource, 'u', 'depositThenFail', 1, 'young boom')];
    await finish(young);
    expect(await Promise.all([...old, ...young].map((j) => j.state()))).toEqual(['completed', 'failed', 'completed', 'failed']);
    const waiting = await Once(a, h!.dataSource, 'u', 'deposit', 3);
    const delayed = await DeferredType({ countdown: 60 })(a, h!.dataSource, 'u', 'deposit', 4);

    expect(await cleanJobs({ olderThanMs: Date.now() - cut, states: ['completed', 'failed'] })).toEqual({ removed: 2, rows: 2 });
    for (const job of old) {
      expect(await inRedis(job)).toBe(false);
      expect(await row(job)).toBeNull();
    }
    for (const job of young) expect(await row(job)).not.toBeNull();
    expect(await Promise.all(young.map((j) => j.state()))).toEqual(['completed', 'failed']);

    // Even with a cutoff of now, unfinished jobs and their rows stay. (On SQLite the rows' statements wait
    // for the running job, whose one connection they need: it has finished by then, after the cutoff.)
    const worker = await h!.startWorker({ relay: false, queues: { high: 1, default: 0, low: 0 } });
    const running = await OnHigh(a, h!.dataSource, 'u', 'wait', 1_000);
    await active(running);
    expect(await cleanJobs({ olderThanMs: 0, states: ['completed', 'failed'] })).toEqual({ removed: 2, rows: 2 });
    expect([await waiting.state(), await delayed.state(), await inRedis(running)]).toEqual(['waiting', 'delayed', true]);
    expect([(await row(waiting))?.state, (await row(delayed))?.state]).toEqual(['pending', 'pending']);
    expect(await row(running)).not.toBeNull();
    expect(await running.result({ timeoutMs: 10_000 })).toBe('waited');
    await worker.close();
  });

  it("states and queues restrict what is removed; 'failed' includes cancelled jobs and their rows", async () => {
    await start();
    const a = await account();
    const done = await Once(a, h!.dataSource, 'u', 'deposit', 1);
    const failed = await Once(a, h!.dataSource, 'u', 'depositThenFail', 1, 'boom');
    const highDone = await OnHigh(a, h!.dataSource, 'u', 'deposit', 1);
    await finish([done, failed, highDone]);
    const worker = await h!.startWorker({ relay: false });
    const cancelled = await Once(a, h!.dataSource, 'u', 'wait', 10_000);
    await active(cancelled);
    expect(await cancelled.cancel()).toBe(true);
    await settled([cancelled]);
    await worker.close();
    expect(await cancelled.state()).toBe('cancelled');
    expect((await row(cancelled))?.state).toBe('cancelled');

    expect(await cleanJobs({ olderThanMs: 0, states: ['completed'], queues: ['high'] })).toEqual({ removed: 1, rows: 1 });
    expect([await inRedis(highDone), await inRedis(done)]).toEqual([false, true]);
    expect(await cleanJobs({ olderThanMs: 0, states: ['completed'] })).toEqual({ removed: 1, rows: 1 });
    expect([await inRedis(failed), await inRedis(cancelled)]).toEqual([true, true]);
    expect(await cleanJobs({ olderThanMs: 0, states: ['failed'] })).toEqual({ removed: 2, rows: 2 });
    for (const job of [done, failed, highDone, cancelled]) {
      expect(await inRedis(job)).toBe(false);
      expect(await row(job)).toBeNull();
    }
  });

  it("removes the rows of finished jobs BullMQ's retention already removed from Redis", async () => {
    await start();
    const a = await account();
    const gone = await DeferredType({ attempts: 1, removeOnComplete: true })(a, h!.dataSource, 'u', 'deposit', 1);
    await finish([gone]);
    expect(await inRedis(gone)).toBe(false);
    expect((await row(gone))?.state).toBe('completed');
    expect(await cleanJobs({ olderThanMs: 0, states: ['completed'] })).toEqual({ removed: 0, rows: 1 });
    expect(await row(gone)).toBeNull();
  });

  it('removes more jobs than one batch holds, batch after batch', async () => {
    await start();
    const a = await account();
    const jobs: DeferredJob[] = [];
    for (let i = 0; i < 25; i++) jobs.push(await Once(a, h!.dataSource, 'u', 'deposit', 1));
    await finish(jobs);
    const queue: QueueName = 'default';
    expect(await producerQueue(queue).getCompletedCount()).toBe(25);
    expect(await cleanJobs({ olderThanMs: 0, states: ['completed'], batchSize: 10 })).toEqual({ removed: 25, rows: 25 });
    expect(await producerQueue(queue).getCompletedCount()).toBe(0);
    expect(await h!.dataSource.manager.count(DeferredJobRecord)).toBe(0);
  });
});
