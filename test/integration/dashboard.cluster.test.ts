import 'reflect-metadata';
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { Cluster } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardPlugin, type JobView } from '../../dashboard/index.js';
import { closeDeferred, configure, Deferred, DeferredJobRecord, startWorker, type DeferredWorker } from '../../src/index.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { startPrivateCluster, tagsOnDifferentMasters, type PrivateCluster } from '../redis-cluster.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const OWNER_TOKEN = 'owner-token-0123456789abcdef';
const OTHER_TOKEN = 'other-token-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const owner = { authorization: `Bearer ${OWNER_TOKEN}` };
const other = { authorization: `Bearer ${OTHER_TOKEN}` };

/** Reads a whole Server-Sent Events stream (the server closes it after the final state) and returns its `data:` views. */
function readStream(url: string, headers: Record<string, string>, timeoutMs = 15_000): Promise<{ status: number; type?: string; views: JobView[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => {
        clearTimeout(timer);
        const views = text.split('\n\n').flatMap((block) => {
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
          return data.length ? [JSON.parse(data.join('\n')) as JobView] : [];
        });
        resolve({ status: res.statusCode!, type: res.headers['content-type'], views });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`the stream ${url} was still open after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', reject);
  });
}

// The dashboard on a Redis Cluster: the job API, the live events and bull-board read the queues
// through the same Cluster connection as the rest of the library, with one hash-tagged prefix
// (every queue on one master) and with a tag per queue (configure({ queuePrefixes }), the queues on three masters).
let cluster: PrivateCluster;
let client: Cluster;
const run = Date.now().toString(36);

beforeAll(async () => {
  cluster = await startPrivateCluster();
  client = new Cluster(cluster.nodes);
}, 60_000);

afterAll(async () => {
  await client?.quit().catch(() => client.disconnect());
  await cluster?.stop();
});

describe.each(['one prefix', 'a prefix per queue'] as const)('dashboard on a Redis Cluster, %s', (layout) => {
  let ds: DataSource;
  let worker: DeferredWorker | undefined;
  let app: FastifyInstance | undefined;
  let base = '';
  const prefix = `{db${run}${layout === 'one prefix' ? '' : '-own'}}`;

  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [...ENTITIES, DeferredJobRecord], synchronize: true });
    await ds.initialize();
    const tags = layout === 'one prefix' ? undefined : await tagsOnDifferentMasters(client, `dbq${run}`);
    configure({ connection: client, prefix, dataSources: { main: ds }, ...(tags ? { queuePrefixes: { high: tags[0], default: tags[1], low: tags[2] } } : {}) });
    worker = await startWorker({ relay: false, queues: { high: 1, default: 2, low: 1 } });
    app = Fastify();
    await app.register(dashboardPlugin, {
      prefix: '/deferred',
      pollIntervalMs: 40,
      tokens: { [ADMIN_TOKEN]: { uid: 'ops', admin: true }, [OWNER_TOKEN]: { uid: 1 }, [OTHER_TOKEN]: { uid: 2 } },
    });
    base = `${await app.listen({ port: 0, host: '127.0.0.1' })}/deferred`;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await worker?.close();
    await closeDeferred();
    if (ds?.isInitialized) await ds.destroy();
  });

  const account = (balance = 0) => ds.manager.save(ds.manager.create(Account, { name: 'cluster', balance, note: null }));
  const inject = (url: string, headers: Record<string, string>, method: 'GET' | 'POST' = 'GET') => app!.inject({ method, url: `/deferred${url}`, headers });

  it('job API: the owner and an admin see the progress and the result; another user gets 404', async () => {
    const a = await account(10);
    const job = await Deferred(a, ds, 1, 'countTo', 4, 100);
    // Progress while it runs.
    let running: JobView | undefined;
    for (let i = 0; i < 200 && !running; i++) {
      const v = (await inject(`/api/jobs/${job.id}`, owner)).json() as JobView;
      if (v.state === 'active' && v.percent > 0 && v.percent < 100) running = v;
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(running, 'a view of the running job with some progress').toMatchObject({ id: job.id, name: 'Account.countTo', state: 'active', done: false, uid: 1 });
    expect(running!.message).toMatch(/^step \d of 4$/);

    expect(await job.result({ timeoutMs: 15_000 })).toBe(4);
    const mine = await inject(`/api/jobs/${job.id}`, owner);
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json()).toMatchObject({ id: job.id, queue: 'default', state: 'completed', done: true, percent: 100, result: 4, message: 'step 4 of 4', uid: 1 });
    expect((await inject(`/api/jobs/${job.id}`, admin)).json()).toEqual(mine.json());

    // Another user's job is "not found", its page too, and it cannot be cancelled by them.
    const theirs = await inject(`/api/jobs/${job.id}`, other);
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toEqual({ error: 'not found', id: job.id });
    expect((await inject(`/jobs/${job.id}`, other)).statusCode).toBe(404);
    expect((await inject(`/api/jobs/${job.id}/cancel`, other, 'POST')).statusCode).toBe(404);
    // The progress page is there for the owner; an unknown id is 404 for everyone.
    const page = await inject(`/jobs/${job.id}`, owner);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Account.countTo');
    expect((await inject('/api/jobs/no-such-job', admin)).statusCode).toBe(404);
  }, 30_000);

  it('job API: cancels a running job on the cluster', async () => {
    const a = await account();
    const job = await Deferred(a, ds, 1, 'wait', 10_000);
    for (let i = 0; i < 200 && (await job.state()) !== 'active'; i++) await new Promise((r) => setTimeout(r, 25));
    const res = await inject(`/api/jobs/${job.id}/cancel`, owner, 'POST');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: job.id, cancelled: true });
    for (let i = 0; i < 200 && !((await inject(`/api/jobs/${job.id}`, owner)).json() as JobView).done; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await inject(`/api/jobs/${job.id}`, owner)).json()).toMatchObject({ state: 'cancelled', done: true, error: { code: 'DEFER_ERR_CANCELLED' } });
  }, 30_000);

  it('SSE: the event stream delivers growing progress, then the completed state, and closes', async () => {
    const a = await account();
    const job = await Deferred(a, ds, 1, 'countTo', 5, 150);
    const { status, type, views } = await readStream(`${base}/api/jobs/${job.id}/events`, owner);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/event-stream/);
    const percents = views.map((v) => v.percent);
    for (let i = 1; i < percents.length; i++) expect(percents[i], `percents ${percents}`).toBeGreaterThanOrEqual(percents[i - 1]);
    expect(new Set(percents.filter((p) => p > 0 && p < 100)).size, `percents ${percents}`).toBeGreaterThanOrEqual(2);
    expect(views.at(-1)).toMatchObject({ id: job.id, state: 'completed', done: true, percent: 100, result: 5 });
    expect(views.filter((v) => v.done)).toHaveLength(1);
    // Another user gets no stream.
    const theirs = await fetch(`${base}/api/jobs/${job.id}/events`, { headers: other });
    expect(theirs.status).toBe(404);
    await theirs.body?.cancel();
  }, 30_000);

  it('bull-board: its page answers an admin, its API lists the three queues and the job', async () => {
    const ui = await inject('/queues', admin);
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/^text\/html/);
    expect((await inject('/queues', owner)).statusCode).toBe(403);

    const a = await account(10);
    const job = await Deferred(a, ds, 7, 'countTo', 2, 20);
    expect(await job.result({ timeoutMs: 15_000 })).toBe(2);
    const res = await inject('/queues/api/queues?activeQueue=default&status=completed&page=1&jobsPerPage=50', admin);
    expect(res.statusCode, res.body).toBe(200);
    const queues = res.json().queues as Array<{ name: string; isPaused: boolean; counts: Record<string, number>; jobs: Array<Record<string, any>> }>;
    expect(queues.map((q) => q.name).sort()).toEqual(['default', 'high', 'low']);
    const listed = queues.find((q) => q.name === 'default')!.jobs.find((j) => j.id === job.id);
    expect(listed, JSON.stringify(queues.find((q) => q.name === 'default'))).toBeDefined();
    expect(listed!.data).toMatchObject({ call: 'Account.countTo', uid: 7, args: [2, 20] });
    expect(listed!.returnValue).toBe(2);
    expect(listed!.progress).toBe(100);
    expect(queues.find((q) => q.name === 'default')!.counts.completed).toBeGreaterThanOrEqual(1);

    const one = await inject(`/queues/api/queues/default/${job.id}`, admin);
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json().job).toMatchObject({ id: job.id, returnValue: 2 });
    const logs = await inject(`/queues/api/queues/default/${job.id}/logs`, admin);
    expect(logs.statusCode, logs.body).toBe(200);
    expect(logs.json()).toEqual(expect.arrayContaining(['step 1 of 2', 'step 2 of 2']));

    // The panels that read Redis itself: its stats (bull-board asks every master), the workers, the schedulers.
    const stats = await inject('/queues/api/redis/stats', admin);
    expect(stats.statusCode, stats.body).toBe(200);
    expect(stats.json()).toHaveProperty('version');
    const workers = await inject('/queues/api/queues/default/workers', admin);
    expect(workers.statusCode, workers.body).toBe(200);
    expect((await inject('/queues/api/job-schedulers', admin)).statusCode).toBe(200);
    // The dashboard's own Prometheus metrics count the queues on the cluster.
    const metrics = await inject('/metrics', admin);
    expect(metrics.statusCode, metrics.body).toBe(200);
    expect(metrics.body).toMatch(/deferred_queue_jobs\{[^}]*queue="default"[^}]*state="completed"[^}]*\} [1-9]/);

    // Pause and resume through bull-board reach the queue on the cluster.
    expect((await app!.inject({ method: 'PUT', url: '/deferred/queues/api/queues/low/pause', headers: admin })).statusCode).toBe(200);
    const paused = (await inject('/queues/api/queues?activeQueue=low&status=latest&page=1&jobsPerPage=10', admin)).json().queues as Array<{ name: string; isPaused: boolean }>;
    expect(paused.find((q) => q.name === 'low')!.isPaused).toBe(true);
    expect((await app!.inject({ method: 'PUT', url: '/deferred/queues/api/queues/low/resume', headers: admin })).statusCode).toBe(200);
  }, 30_000);
});
