import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeferred, configure, DeferredJobRecord, DeferredType, startWorker, type DeferredJob } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers.js';
import { cli, NO_STACK } from './cli.run.js';

const CONFIG_RECORDS = 'dist/test/fixtures/cli-config-records.js';
const Once = DeferredType({ attempts: 1 });

describe('deferred clean', () => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'deferred-clean-'));
  const env = { ...process.env, REDIS_URL, DEFERRED_PREFIX: prefix, DEFERRED_SQLITE: join(dir, 'db.sqlite') };
  let ds: DataSource;
  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: env.DEFERRED_SQLITE, entities: [...ENTITIES, DeferredJobRecord], synchronize: true, timeout: 5_000 });
    await ds.initialize();
    configure({ connection: REDIS_URL, prefix, dataSources: { main: ds } });
  });
  afterAll(async () => {
    await closeDeferred();
    await ds.destroy();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });
  const inRedis = async (job: DeferredJob) => (await producerQueue(job.queue).getJobState(job.id)) !== 'unknown';
  const row = (job: DeferredJob) => ds.manager.findOneBy(DeferredJobRecord, { id: job.id });
  /** A completed and a failed job, with their rows, finished by a worker of this process. */
  async function finishedJobs(queue: 'high' | 'default' = 'default'): Promise<DeferredJob[]> {
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'c', balance: 0, note: null }));
    const On = DeferredType({ attempts: 1, queue });
    const jobs = [await On(a, ds, 'u', 'deposit', 1), await On(a, ds, 'u', 'depositThenFail', 1, 'boom')];
    const worker = await startWorker({ relay: false, shutdownTimeoutMs: 5_000 });
    await Promise.all(jobs.map((j) => j.result({ timeoutMs: 15_000 }).catch(() => undefined)));
    await worker.close();
    return jobs;
  }

  it('removes finished jobs older than the duration, and their rows with a config module whose data source has the job table', async () => {
    const jobs = await finishedJobs();
    const waiting = await Once(await ds.manager.findOneByOrFail(Account, { name: 'c' }), ds, 'u', 'deposit', 1);
    const young = await cli(['clean', '--older-than', '1h', '--state', 'completed,failed', '--config', CONFIG_RECORDS], env);
    expect(young).toMatchObject({ code: 0, stderr: '' });
    expect(young.stdout).toMatch(/^Removed 0 jobs from Redis \(completed, failed; queues high, default, low; prefix \w+; finished before \d{4}-/);
    expect(young.stdout).toContain('Removed 0 rows from the job table');
    for (const job of jobs) expect(await inRedis(job)).toBe(true);

    const old = await cli(['clean', '--older-than', '0', '--state', 'completed,failed', '--config', CONFIG_RECORDS], env);
    expect(old).toMatchObject({ code: 0, stderr: '' });
    expect(old.stdout).toContain('Removed 2 jobs from Redis');
    expect(old.stdout).toContain('Removed 2 rows from the job table');
    for (const job of jobs) {
      expect(await inRedis(job)).toBe(false);
      expect(await row(job)).toBeNull();
    }
    expect(await waiting.state()).toBe('waiting');
    expect((await row(waiting))?.state).toBe('pending');
    await waiting.cancel();
  });

  it('--prefix cleans Redis only, --queues and --state restrict it, --json prints the counts', async () => {
    const [done, failed] = await finishedJobs('high');
    const [other] = await finishedJobs('default');
    const text = await cli(['clean', '--older-than', '0ms', '--state', 'completed', '--queues', 'high', '--prefix', prefix], env);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toContain('Removed 1 job from Redis (completed; queues high;');
    expect(text.stdout).toContain('No job table');
    expect([await inRedis(done), await inRedis(failed), await inRedis(other)]).toEqual([false, true, true]);
    expect(await row(done)).not.toBeNull();
    const json = await cli(['clean', '--older-than', '0', '--state', 'failed,completed', '--prefix', prefix, '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ removed: 3, rows: 0, states: ['failed', 'completed'], queues: ['high', 'default', 'low'] });
  });

  it.each([
    [['clean', '--state', 'completed'], 'deferred: missing --older-than <duration>'],
    [['clean', '--older-than', '7days', '--state', 'completed'], "deferred: invalid --older-than '7days': a duration such as 7d"],
    [['clean', '--older-than', '7d'], 'deferred: missing --state <states>'],
    [['clean', '--older-than', '7d', '--state', 'completed,cancelled'], "deferred: invalid --state 'completed,cancelled': 'cancelled' is not one of completed, failed (cancelled jobs are failed jobs)"],
    [['clean', '--older-than', '7d', '--state', 'failed', '--queues', 'high,urgent'], "deferred: invalid --queues 'high,urgent': 'urgent' is not one of high, default, low"],
    [['clean', '--older-than', '7d', '--state', 'failed', '--config', CONFIG_RECORDS, '--prefix', 'p'], 'deferred: give --config or --prefix, not both'],
    [['clean', '--older-than', '7d', '--state', 'failed', 'extra'], "deferred: unexpected argument 'extra' for 'clean'"],
  ])('%j is a usage error: one line, the usage, exit 2', async (args, first) => {
    const { code, stdout, stderr } = await cli(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toContain(first);
    expect(stderr).toContain('Usage: deferred clean [options]');
    expect(stderr).not.toMatch(NO_STACK);
  });

  it('is listed in the general help and has its own', async () => {
    expect((await cli(['--help'])).stdout).toContain('  clean ');
    const help = await cli(['clean', '--help']);
    expect(help.code).toBe(0);
    for (const text of ['--older-than <duration>', '--state <states>', '--queues <names>', '--config <module>', '--prefix <prefix>', '--json']) expect(help.stdout).toContain(text);
  });
});
