import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord, type DeferredJob } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { Effect, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, REDIS_URL, setup, type DbKind, type Harness } from '../helpers.js';
import { killHard, spawnWorker, type ChildWorker } from '../workers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A harness on `kind` with the job table, and worker processes that the test kills. */
function killHarness(kind: DbKind) {
  const t = {
    h: undefined as Harness | undefined,
    children: [] as ChildWorker[],
    async start() {
      t.h = await setup(kind, {}, false, { entities: [...ENTITIES, DeferredJobRecord], sqliteFile: true });
      return t.h;
    },
    worker(concurrency = 2) {
      const w = spawnWorker(t.h!.options, REDIS_URL, t.h!.prefix, concurrency);
      t.children.push(w);
      return w;
    },
    effects: () => t.h!.dataSource.manager.count(Effect),
  };
  afterEach(async () => {
    await Promise.all(t.children.splice(0).map(killHard));
    await t.h?.cleanup();
    t.h = undefined;
  });
  return t;
}

describe.each(ALL_DB_KINDS)('worker processes killed with SIGKILL, on %s with the job table', (kind: DbKind) => {
  const t = killHarness(kind);
  /** Waits until the job is running in its `start`-th start. */
  const runningFor = async (id: string, start: number) => {
    for (let i = 0; i < 300; i++) {
      const job = await producerQueue('default').getJob(id);
      if (job && job.attemptsStarted >= start && (await job.getState()) === 'active') return;
      await sleep(50);
    }
    throw new Error(`job ${id} did not start a ${start}th time`);
  };

  it('a job whose worker is killed twice while it runs runs again each time, and ends completed once, everywhere', async () => {
    const h = await t.start();
    const job = await Deferred(Effect, h.dataSource, 'ops', 'record', 3_000);
    for (const run of [1, 2]) {
      const w = t.worker();
      await runningFor(job.id, run);
      await killHard(w);
    }
    t.worker();
    expect(await job.result({ timeoutMs: 30_000 })).toBe(job.id);
    const bull = (await producerQueue('default').getJob(job.id))!;
    // Two stalls, no attempt spent: the completion is the one attempt BullMQ counts.
    expect([await bull.getState(), bull.stalledCounter, bull.attemptsMade]).toEqual(['completed', 2, 1]);
    expect(await job.state()).toBe('completed');
    expect(await t.effects()).toBe(1);
    expect(await h.dataSource.manager.findOneBy(DeferredJobRecord, { id: job.id })).toMatchObject({ state: 'completed', attempts: 1 });
  }, 60_000);
});

describe.each(['postgres', 'mariadb'] as DbKind[])('a drain through worker kills, on %s with the job table', (kind) => {
  const t = killHarness(kind);

  it('chaos: a worker killed every second and replaced, through a drain of 600 jobs; each effect applies exactly once and the table, BullMQ and result() agree', async () => {
    const h = await t.start();
    const handles: DeferredJob<string>[] = [];
    for (let i = 0; i < 600; i += 50) {
      handles.push(...await Promise.all(Array.from({ length: 50 }, () => Deferred(Effect, h.dataSource, 'ops', 'record', 40))));
    }
    const live = [t.worker(3), t.worker(3), t.worker(3)];
    let kills = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      await sleep(1_000);
      const counts = await producerQueue('default').getJobCounts('completed', 'failed');
      if (counts.completed + counts.failed === handles.length || Date.now() > deadline) break;
      // Kill one, at random, and start its replacement (a deploy, an OOM kill, an autoscaler).
      const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0];
      await killHard(victim);
      kills++;
      live.push(t.worker(3));
    }
    const counts = await producerQueue('default').getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    expect(counts, `what the workers wrote to stderr:\n${t.children.map((c) => c.stderr()).join('').slice(-2_000)}`).toEqual({ completed: handles.length, failed: 0, active: 0, waiting: 0, delayed: 0 });
    expect(kills).toBeGreaterThanOrEqual(5);
    // Exactly once: one effect per job (the key is the job id), and no other.
    expect(await t.effects()).toBe(handles.length);
    const rows = await h.dataSource.manager.find(DeferredJobRecord, { select: { id: true, state: true } });
    expect(rows.filter((r) => r.state === 'completed').length).toBe(handles.length);
    for (let i = 0; i < handles.length; i += 50) {
      const results = await Promise.all(handles.slice(i, i + 50).map((j) => j.result({ timeoutMs: 5_000 })));
      expect(results).toEqual(handles.slice(i, i + 50).map((j) => j.id));
    }
    console.log(`[chaos ${kind}] ${handles.length} jobs, ${kills} workers killed, ${(await producerQueue('default').getJobs(['completed'], 0, -1)).filter((j) => j.stalledCounter > 0).length} jobs taken back from a killed worker`);
  }, 180_000);
});
