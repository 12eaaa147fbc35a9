import 'reflect-metadata';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { currentJob, Deferrable, Deferred, DeferredJobRecord, isQueuePaused, LowPriorityDeferred, pauseQueue, resumeQueue, type DeferredJob } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { Effect, ENTITIES } from '../fixtures/entities.js';
import { DB_KINDS, REDIS_URL, setup, type DbKind, type Harness } from '../helpers.js';
import { killHard, spawnWorker, type ChildWorker } from '../workers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** When each step ran, in this process (the workers of these tests run here). */
const timeline: Array<{ label: number; start: number; end: number }> = [];

/** A job that records when it started and ended, in a row and in {@link timeline}. */
@Entity()
class Step {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer') label!: number;

  @Deferrable()
  static async run(label: number, ms: number): Promise<number> {
    const start = Date.now();
    await currentJob()!.manager.insert(Step, { label });
    await sleep(ms);
    timeline.push({ label, start, end: Date.now() });
    return label;
  }
}

const processedBy = async (jobs: DeferredJob[]) => Promise.all(jobs.map(async (j) => (await producerQueue(j.queue).getJob(j.id))?.processedBy));

async function waitForState(job: DeferredJob, state: string): Promise<void> {
  for (let i = 0; i < 400 && (await job.state()) !== state; i++) await sleep(25);
  expect(await job.state()).toBe(state);
}

describe.each(DB_KINDS)('queue control on %s', (kind: DbKind) => {
  let h: Harness | undefined;
  const children: ChildWorker[] = [];
  const start = async () => {
    timeline.length = 0;
    h = await setup(kind, {}, false, { entities: [...ENTITIES, Step, DeferredJobRecord], sqliteFile: true });
    return h;
  };
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killHard));
    await h?.cleanup();
    h = undefined;
  });

  it('pauseQueue stops every worker of the queue, here and in another process, while Deferred() still takes jobs; resumeQueue drains them', async () => {
    const t = await start();
    await t.startWorker({ queues: { high: 0, default: 2, low: 0 } });
    const child = spawnWorker(t.options, REDIS_URL, t.prefix, 2);
    children.push(child);
    await child.ready;

    await pauseQueue('default');
    expect(await isQueuePaused('default')).toBe(true);
    expect(await isQueuePaused('low')).toBe(false);
    const jobs = await Promise.all([1, 2, 3, 4].map(() => Deferred(Effect, t.dataSource, 1, 'record', 0)));
    await sleep(800);
    expect(await Promise.all(jobs.map((j) => j.state()))).toEqual(['waiting', 'waiting', 'waiting', 'waiting']);
    expect(await t.dataSource.manager.count(Effect)).toBe(0);

    await resumeQueue('default');
    expect(await isQueuePaused('default')).toBe(false);
    expect(await Promise.all(jobs.map((j) => j.result({ timeoutMs: 15_000 })))).toEqual(jobs.map((j) => j.id));
    expect(await t.dataSource.manager.count(Effect)).toBe(4);
  });

  it('worker.pause() stops this worker only, once its running job has finished; the other takes the new jobs until resume()', async () => {
    const t = await start();
    const only = { high: 0, default: 1, low: 0 };
    const a = await t.startWorker({ name: 'wa', queues: only });
    const b = await t.startWorker({ name: 'wb', queues: only });

    await b.pause();
    const slow = await Deferred(Effect, t.dataSource, 1, 'record', 700);
    await waitForState(slow, 'active');
    await b.resume();
    await a.pause();
    // pause() resolved after the job it was running had finished.
    expect(await slow.state()).toBe('completed');
    expect([a.paused, b.paused]).toEqual([true, false]);
    expect(await isQueuePaused('default')).toBe(false);

    const toB = await Promise.all([1, 2, 3].map(() => Deferred(Effect, t.dataSource, 1, 'record', 0)));
    await Promise.all(toB.map((j) => j.result({ timeoutMs: 15_000 })));
    expect(await processedBy([slow, ...toB])).toEqual(['wa', 'wb', 'wb', 'wb']);

    await a.resume();
    await b.pause();
    const toA = await Promise.all([1, 2].map(() => Deferred(Effect, t.dataSource, 1, 'record', 0)));
    await Promise.all(toA.map((j) => j.result({ timeoutMs: 15_000 })));
    expect(await processedBy(toA)).toEqual(['wa', 'wa']);
  });

  it('queues: { low: { concurrency: 2, global: 1 } } runs the queue one job at a time across two workers, in insertion order', async () => {
    const t = await start();
    await t.startWorker({ queues: { high: 0, default: 0, low: { concurrency: 2, global: 1 } } });
    // Started without `global`: the queue's setting stays.
    await t.startWorker({ queues: { high: 0, default: 0, low: 2 } });
    expect(await producerQueue('low').getGlobalConcurrency()).toBe(1);

    const jobs = [];
    for (let i = 0; i < 6; i++) jobs.push(await LowPriorityDeferred(Step, t.dataSource, 1, 'run', i, 120));
    expect(await Promise.all(jobs.map((j) => j.result({ timeoutMs: 15_000 })))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(timeline.map((s) => s.label)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < timeline.length; i++) expect(timeline[i].start).toBeGreaterThanOrEqual(timeline[i - 1].end);

    // `global: false` removes it.
    await t.startWorker({ queues: { high: 0, default: 0, low: { concurrency: 1, global: false } } });
    expect(await producerQueue('low').getGlobalConcurrency()).toBeNull();
  });

  it('limits: { low: { max: 2, durationMs: 500 } } starts at most 2 jobs per window across every worker of the queue', async () => {
    const t = await start();
    await t.startWorker({ queues: { high: 0, default: 0, low: 4 }, limits: { low: { max: 2, durationMs: 500 } } });
    // A worker started without `limits` is held by the queue's limit too.
    await t.startWorker({ queues: { high: 0, default: 0, low: 4 } });

    const jobs = [];
    for (let i = 0; i < 6; i++) jobs.push(await LowPriorityDeferred(Step, t.dataSource, 1, 'run', i, 0));
    await Promise.all(jobs.map((j) => j.result({ timeoutMs: 15_000 })));
    // When BullMQ took each job (the limiter's clock): on SQLite the methods themselves run one at a time per process.
    const starts = (await Promise.all(jobs.map(async (j) => (await producerQueue('low').getJob(j.id))!.processedOn!))).sort((x, y) => x - y);
    // Jobs i and i + 2 cannot share a window: the later one is taken at least one window after the earlier one's window began.
    const gaps = starts.slice(2).map((s, i) => s - starts[i]);
    expect(gaps.every((g) => g >= 450), `gaps between a job and the one two later: ${gaps.join(', ')} ms`).toBe(true);
    expect(await producerQueue('low').getGlobalRateLimit()).toMatchObject({ max: 2, duration: 500 });

    await t.startWorker({ queues: { high: 0, default: 0, low: 1 }, limits: { low: false } });
    expect(await producerQueue('low').getGlobalRateLimit()).toBeNull();
  });

  it("a worker's name is on its Redis connections (bull-board's worker list) and on its log records", async () => {
    const t = await start();
    const records: Array<Record<string, unknown>> = [];
    const log = (fields: object, msg?: string) => void records.push({ ...fields, msg });
    const w = await t.startWorker({ name: 'billing-1', queues: { high: 0, default: 1, low: 0 }, verbose: true, logger: { info: log, warn: log, error: log } });
    expect(w.name).toBe('billing-1');
    const workers = await producerQueue('default').getWorkers();
    expect(workers.some((c) => String(c.rawname).endsWith(':w:billing-1'))).toBe(true);
    expect(await producerQueue('low').getWorkers()).toEqual([]);

    const job = await Deferred(Effect, t.dataSource, 1, 'record', 0);
    await job.result({ timeoutMs: 15_000 });
    expect(records.find((r) => r.msg === 'worker started')).toMatchObject({ worker: 'billing-1', queues: { high: 0, default: 1, low: 0 } });
    expect(records.find((r) => r.msg === 'job completed')).toMatchObject({ worker: 'billing-1', jobId: job.id });
    expect((await producerQueue('default').getJob(job.id))?.processedBy).toBe('billing-1');

    const unnamed = await t.startWorker({ queues: { high: 0, default: 1, low: 0 } });
    expect(unnamed.name).toMatch(new RegExp(`:${process.pid}$`));
  });
});
