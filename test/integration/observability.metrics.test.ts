import { Worker } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../dashboard/index.js';
import { Deferred, DeferredJobRecord, DeferredType, relayPendingJobs, serveMetrics } from '../../src/index.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { REDIS_URL, setup, type Harness } from '../helpers.js';

const ADMIN = 'admin-token-0123456789abcdef';
const OWNER = 'owner-token-0123456789abcdef';
const SCRAPER = 'metrics-token-0123456789abcdef';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('Prometheus metrics at GET /metrics', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  /** The dashboard on PostgreSQL with the job table, its metrics in a registry of the test's own. */
  async function start(): Promise<{ app: FastifyInstance; scrape: (token?: string) => Promise<string> }> {
    h = await setup('postgres', { metrics: { registry: new Registry() } }, false, { entities: [...ENTITIES, DeferredJobRecord] });
    const app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens: { [ADMIN]: { uid: 'ops', admin: true }, [OWNER]: { uid: 'ann' } }, metricsToken: SCRAPER });
    await app.ready();
    const scrape = async (token = SCRAPER) => {
      const res = await app.inject({ method: 'GET', url: '/deferred/metrics', headers: bearer(token) });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      return res.body;
    };
    return { app, scrape };
  }
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'm', balance: 1, note: null }));

  it('the counters and histograms move during a drain, labelled by queue and call only (no ids, no uids)', async () => {
    const { scrape } = await start();
    const a = await account();
    const ok = await Promise.all([1, 2, 3].map((n) => Deferred(a, h!.dataSource, 'user-ann-42', 'deposit', n)));
    const bad = await DeferredType({ attempts: 2 })(a, h!.dataSource, 'user-ann-42', 'depositThenFail', 1, 'no');
    const before = await scrape();
    const call = { queue: 'default', call: 'Account.deposit' };
    expect(sample(before, 'deferred_jobs_enqueued_total', call)).toBe(3);
    expect(sample(before, 'deferred_jobs_completed_total', call)).toBeUndefined();
    expect(sample(before, 'deferred_queue_jobs', { queue: 'default', state: 'wait' })).toBe(4);
    expect(sample(before, 'deferred_queue_oldest_waiting_seconds', { queue: 'default' })).toBeGreaterThan(0);

    await h!.startWorker({ relay: false });
    await Promise.all(ok.map((j) => j.result({ timeoutMs: 15_000 })));
    await failure(bad.result({ timeoutMs: 15_000 }));
    const after = await scrape();
    expect(sample(after, 'deferred_jobs_completed_total', call)).toBe(3);
    const failing = { queue: 'default', call: 'Account.depositThenFail' };
    expect(sample(after, 'deferred_jobs_failed_total', { ...failing, final: 'false' })).toBe(1);
    expect(sample(after, 'deferred_jobs_failed_total', { ...failing, final: 'true' })).toBe(1);
    expect(sample(after, 'deferred_jobs_retried_total', failing)).toBe(1);
    expect(sample(after, 'deferred_job_duration_seconds_count', { ...call, outcome: 'completed' })).toBe(3);
    expect(sample(after, 'deferred_job_duration_seconds_count', { ...failing, outcome: 'retried' })).toBe(1);
    expect(sample(after, 'deferred_job_wait_seconds_count', call)).toBe(3);
    expect(sample(after, 'deferred_queue_jobs', { queue: 'default', state: 'wait' })).toBe(0);
    expect(sample(after, 'deferred_queue_jobs', { queue: 'default', state: 'completed' })).toBe(3);
    expect(sample(after, 'deferred_queue_oldest_waiting_seconds', { queue: 'default' })).toBe(0);
    expect(after).not.toContain('user-ann-42');
    for (const j of [...ok, bad]) expect(after).not.toContain(j.id);
  });

  it('the outbox gauges count job table rows not yet known to be in Redis, and the age of the oldest', async () => {
    const { scrape } = await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 'ann', 'deposit', 1);
    // Pushed, and the row not written since: pending until a relay round finds the job in Redis.
    expect(sample(await scrape(), 'deferred_outbox_pending')).toBe(1);
    expect(sample(await scrape(), 'deferred_outbox_oldest_pending_seconds')).toBeLessThan(5);
    await relayPendingJobs({ olderThanMs: 0 });
    expect(sample(await scrape(), 'deferred_outbox_pending')).toBe(0);
    // A row whose push never happened (the state the outbox keeps while Redis is down), a minute old.
    await h!.dataSource.manager.update(DeferredJobRecord, { id: job.id }, { state: 'pending', createdAt: new Date(Date.now() - 60_000).toISOString() });
    const text = await scrape();
    expect(sample(text, 'deferred_outbox_pending')).toBe(1);
    expect(sample(text, 'deferred_outbox_oldest_pending_seconds')).toBeGreaterThanOrEqual(59);
  });

  it('admins and the metrics token may read /metrics; other users get 403, anonymous callers 401, and the metrics token opens nothing else', async () => {
    const { app, scrape } = await start();
    await scrape(ADMIN);
    expect((await app.inject({ method: 'GET', url: '/deferred/metrics', headers: bearer(OWNER) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/deferred/metrics' })).statusCode).toBe(401);
    for (const url of ['/deferred/api/jobs/x', '/deferred/queues', '/deferred/jobs/x']) {
      expect((await app.inject({ method: 'GET', url, headers: bearer(SCRAPER) })).statusCode).toBe(401);
    }
  });

  it('a metrics token shorter than 16 characters is refused when the plugin is registered', async () => {
    h = await setup('sqlite', {}, false);
    const app = h.closeWith(Fastify());
    const err = await failure((async () => { await app.register(dashboardPlugin, { tokens: { [ADMIN]: { uid: 'ops', admin: true } }, metricsToken: 'short' }); })());
    expect([err.code, err.message]).toEqual(['DEFER_ERR_INVALID_OPTION', expect.stringContaining('metricsToken')]);
  });

  it('serveMetrics() serves the same text on a port of its own (for a worker without a web server), and nothing else', async () => {
    h = await setup('sqlite', { metrics: { registry: new Registry() } }, false);
    const server = h.closeWith(await serveMetrics({ port: 0, host: '127.0.0.1' }));
    const a = await account();
    await Deferred(a, h.dataSource, 'ann', 'deposit', 1);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect([res.status, res.headers.get('content-type')]).toEqual([200, expect.stringContaining('text/plain')]);
    expect(sample(await res.text(), 'deferred_jobs_enqueued_total', { queue: 'default', call: 'Account.deposit' })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
  });

  it('a job taken back from a worker that died is counted in deferred_jobs_stalled_total and logged at warn', async () => {
    const registry = new Registry();
    h = await setup('sqlite', { metrics: { registry } }, false);
    const a = await account();
    const job = await Deferred(a, h.dataSource, 'ann', 'deposit', 1);
    // A worker that takes the job and dies with it: its lock expires after 500 ms.
    const url = new URL(REDIS_URL);
    const dead = new Worker('default', undefined, { connection: { host: url.hostname, port: Number(url.port || 6379) }, prefix: h.prefix, autorun: false, lockDuration: 500 });
    expect((await dead.getNextJob('dead-worker'))?.id).toBe(job.id);
    await dead.close(true);
    const warnings: Array<[object, string | undefined]> = [];
    await h.startWorker({ relay: false, stalledIntervalMs: 200, logger: { info() {}, warn: (f, m) => warnings.push([f, m]), error() {} } });
    expect(await job.result({ timeoutMs: 15_000 })).toBe(2);
    expect(sample(await registry.metrics(), 'deferred_jobs_stalled_total', { queue: 'default', call: 'Account.deposit' })).toBe(1);
    expect(warnings).toContainEqual([expect.objectContaining({ jobId: job.id, queue: 'default', call: 'Account.deposit' }), expect.stringContaining('taken back from a worker that died')]);
  });
});
