import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin, type DashboardOptions, type JobView } from '../../dashboard/index.js';
import { Deferred, DeferredType, type DeferralError } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const OWNER_TOKEN = 'owner-token-0123456789abcdef';
const OTHER_TOKEN = 'other-token-0123456789abcdef';
const TOKENS: DashboardOptions['tokens'] = {
  [ADMIN_TOKEN]: { uid: 'ops', admin: true },
  [OWNER_TOKEN]: { uid: 1 },
  [OTHER_TOKEN]: { uid: 2 },
};
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const owner = { authorization: `Bearer ${OWNER_TOKEN}` };

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dashboard: job API, cancel, progress page and bull-board', () => {
  let h: Harness | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    app = undefined;
  });

  const account = (balance = 0) => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'd', balance, note: null }));

  async function start(options: Partial<DashboardOptions> = {}, worker = true): Promise<FastifyInstance> {
    h = await setup('sqlite', {}, worker ? {} : false);
    app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens: TOKENS, ...options });
    await app.ready();
    return app;
  }

  const getView = async (id: string, headers: Record<string, string> = admin) => {
    const res = await app!.inject({ method: 'GET', url: `/deferred/api/jobs/${id}`, headers });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    return res.json() as JobView;
  };

  /** Polls the API until `until(view)` holds, failing after `timeoutMs`. */
  async function pollView(id: string, until: (v: JobView) => boolean, timeoutMs = 5_000): Promise<JobView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await getView(id);
      if (until(v)) return v;
      if (Date.now() > deadline) throw new Error(`job ${id} did not reach the expected view within ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
      await sleep(30);
    }
  }

  describe('GET /api/jobs/:id', () => {
    it('shows a delayed job: state delayed, not done, 0 %, times as ISO strings, no result', async () => {
      await start({}, false);
      const a = await account();
      const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 1, 'deposit', 5);
      const v = await getView(job.id);
      expect(v).toMatchObject({ id: job.id, queue: 'default', name: 'Account.deposit', state: 'delayed', done: false, percent: 0, uid: 1, attemptsMade: 0, attempts: 1 });
      expect(v.createdAt).toMatch(ISO);
      expect(v.runAt).toMatch(ISO);
      expect(Date.parse(v.runAt!) - Date.parse(v.createdAt!)).toBeGreaterThanOrEqual(59_000);
      expect(v.startedAt).toBeUndefined();
      expect(v.finishedAt).toBeUndefined();
      expect(v).not.toHaveProperty('result');
      expect(v).not.toHaveProperty('error');
    });

    it('shows a waiting job (no worker): state waiting, not done', async () => {
      await start({}, false);
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
      expect(await getView(job.id)).toMatchObject({ id: job.id, name: 'Account.deposit', state: 'waiting', done: false, percent: 0, uid: 1 });
    });

    it('shows a running job: state active, startedAt set, progress percent and message', async () => {
      await start();
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'countTo', 10, 100);
      const v = await pollView(job.id, (x) => x.state === 'active' && x.percent > 0);
      expect(v).toMatchObject({ id: job.id, name: 'Account.countTo', state: 'active', done: false, uid: 1 });
      expect(v.percent).toBeGreaterThan(0);
      expect(v.percent).toBeLessThan(100);
      expect(v.message).toMatch(/^step \d+ of 10$/);
      expect(v.startedAt).toMatch(ISO);
      expect(v.finishedAt).toBeUndefined();
      expect(v).not.toHaveProperty('result');
      await job.result({ timeoutMs: 10_000 });
    });

    it('shows a completed job: done, 100 %, the result, finishedAt', async () => {
      await start();
      const a = await account(10);
      const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
      expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
      const v = await getView(job.id);
      expect(v).toMatchObject({ id: job.id, queue: 'default', name: 'Account.deposit', state: 'completed', done: true, percent: 100, result: 15, uid: 1, attemptsMade: 1, attempts: 1 });
      for (const k of ['createdAt', 'startedAt', 'finishedAt'] as const) expect(v[k], k).toMatch(ISO);
      expect(Date.parse(v.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(v.startedAt!));
      expect(Date.parse(v.startedAt!)).toBeGreaterThanOrEqual(Date.parse(v.createdAt!));
      // The owner sees the same view.
      expect(await getView(job.id, owner)).toEqual(v);
    });

    it('decodes the result as JSON: a Date becomes an ISO string, a Set an array', async () => {
      await start();
      const openedAt = new Date('2024-02-03T04:05:06.789Z');
      const job = await Deferred(Account, h!.dataSource, 1, 'open', 'x', 3, openedAt, new Set(['a', 'b']));
      await job.result({ timeoutMs: 10_000 });
      const v = await getView(job.id);
      expect(v.name).toBe('Account.open');
      expect(v.state).toBe('completed');
      expect(v.result).toEqual({ id: expect.any(Number), openedAt: '2024-02-03T04:05:06.789Z', tags: ['a', 'b'] });
    });

    it('shows a failed job with error { message, code }; the stack only for admins', async () => {
      await start();
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'depositThenFail', 5, 'the vault is closed');
      await job.result({ timeoutMs: 10_000 }).catch(() => undefined);
      const v = await getView(job.id, admin);
      expect(v).toMatchObject({ id: job.id, name: 'Account.depositThenFail', state: 'failed', done: true, attemptsMade: 1 });
      expect(v).not.toHaveProperty('result');
      expect(v.error?.message).toContain('the vault is closed');
      expect(v.error?.stack).toEqual(expect.stringContaining('the vault is closed'));
      const mine = await getView(job.id, owner);
      expect(mine.state).toBe('failed');
      expect(mine.error?.message).toContain('the vault is closed');
      expect(mine.error).not.toHaveProperty('stack');
    });

    it('a failure with a DeferralError carries its code (record deleted before the job ran)', async () => {
      await start({}, false);
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
      await h!.dataSource.manager.delete(Account, { id: a.id });
      await h!.startWorker();
      await job.result({ timeoutMs: 10_000 }).catch(() => undefined);
      const v = await getView(job.id, admin);
      expect(v.state).toBe('failed');
      expect(v.error).toMatchObject({ code: 'DEFER_ERR_RECORD_NOT_FOUND', message: expect.any(String) });
      expect(v.error?.stack).toEqual(expect.stringContaining('DEFER_ERR_RECORD_NOT_FOUND'));
      const mine = await getView(job.id, owner);
      expect(mine.error).toEqual({ code: 'DEFER_ERR_RECORD_NOT_FOUND', message: v.error!.message });
    });

    it('an unknown id is 404 JSON', async () => {
      await start({}, false);
      for (const id of ['no-such-job', 'bad:id', '12345']) {
        const res = await app!.inject({ method: 'GET', url: `/deferred/api/jobs/${encodeURIComponent(id)}`, headers: admin });
        expect(res.statusCode, id).toBe(404);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.json()).toMatchObject({ error: 'not found', id });
      }
    });
  });

  describe('POST /api/jobs/:id/cancel', () => {
    const cancel = (id: string, headers: Record<string, string> = admin) =>
      app!.inject({ method: 'POST', url: `/deferred/api/jobs/${id}/cancel`, headers });

    it('cancels a delayed job: 200 { cancelled: true, state: cancelled }, and it never runs', async () => {
      await start();
      const a = await account();
      const job = await DeferredType({ countdown: 0.5 })(a, h!.dataSource, 1, 'deposit', 5);
      const res = await cancel(job.id, owner);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ id: job.id, cancelled: true, state: 'cancelled' });
      expect((await getView(job.id)).state).toBe('cancelled');
      expect((await getView(job.id)).done).toBe(true);
      await sleep(1_000);
      expect((await h!.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(0);
      expect((await getView(job.id)).state).toBe('cancelled');
    });

    it('cancels a running job: 200 cancelled true, then it ends as cancelled within a few seconds', async () => {
      await start();
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'wait', 10_000);
      await pollView(job.id, (v) => v.state === 'active');
      const started = Date.now();
      const res = await cancel(job.id);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ id: job.id, cancelled: true });
      const v = await pollView(job.id, (x) => x.done, 5_000);
      expect(v.state).toBe('cancelled');
      expect(v.error?.code).toBe('DEFER_ERR_CANCELLED');
      expect(Date.now() - started).toBeLessThan(4_000);
    });

    it('refuses to cancel a completed job: 409 { cancelled: false }', async () => {
      await start();
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
      await job.result({ timeoutMs: 10_000 });
      const res = await cancel(job.id);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json()).toMatchObject({ id: job.id, cancelled: false, state: 'completed' });
      expect((await getView(job.id)).state).toBe('completed');
    });

    it('an unknown job is 404; GET on the cancel URL is not a route', async () => {
      await start({}, false);
      expect((await cancel('no-such-job')).statusCode).toBe(404);
      const a = await account();
      const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 1, 'deposit', 5);
      const res = await app!.inject({ method: 'GET', url: `/deferred/api/jobs/${job.id}/cancel`, headers: admin });
      expect(res.statusCode).toBe(404);
      expect((await getView(job.id)).state).toBe('delayed');
    });

    it('refuses a cross-site POST with 403 and leaves the job alone', async () => {
      await start({}, false);
      const a = await account();
      const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 1, 'deposit', 5);
      const attempts: Array<Record<string, string>> = [
        { ...admin, host: 'dashboard.example', origin: 'https://evil.example' },
        { ...admin, origin: 'https://evil.example' },
        { ...admin, 'sec-fetch-site': 'cross-site' },
        { ...owner, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
        { ...admin, origin: 'null' },
      ];
      for (const headers of attempts) {
        const res = await cancel(job.id, headers);
        expect(res.statusCode, JSON.stringify(headers)).toBe(403);
        expect(res.json().cancelled).not.toBe(true);
      }
      expect((await getView(job.id)).state).toBe('delayed');
      // A same-origin request with the same credentials goes through.
      const ok = await cancel(job.id, { ...admin, host: 'dashboard.example', origin: 'https://dashboard.example', 'sec-fetch-site': 'same-origin' });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toMatchObject({ cancelled: true, state: 'cancelled' });
    });
  });

  describe('GET /jobs/:id (progress page)', () => {
    const page = (id: string, query = '') => app!.inject({ method: 'GET', url: `/deferred/jobs/${id}${query}`, headers: owner });

    it('is HTML with a nonce-based CSP, the job name and the EventSource URL', async () => {
      await start({}, false);
      const a = await account();
      const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 1, 'deposit', 5);
      const res = await page(job.id);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const csp = String(res.headers['content-security-policy']);
      const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
      expect(nonce, csp).toBeTruthy();
      expect(res.body).toContain(`<script nonce="${nonce}">`);
      expect(res.body).toContain('Account.deposit');
      expect(res.body).toContain(`/deferred/api/jobs/${job.id}/events`);
      expect(res.body).toContain('EventSource');
      // A fresh nonce per response.
      const again = await page(job.id);
      expect(again.headers['content-security-policy']).not.toBe(csp);
    });

    it('embeds a same-origin ?next= and drops any that leads to another origin', async () => {
      await start({}, false);
      const a = await account();
      const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, 1, 'deposit', 5);
      const good = await page(job.id, `?next=${encodeURIComponent('/done')}`);
      expect(good.statusCode).toBe(200);
      expect(good.body).toContain('"next":"/done"');
      for (const next of ['https://evil.example/', '//evil.example', '/\\evil.example', '/\\/evil.example', 'javascript:alert(1)']) {
        const res = await page(job.id, `?next=${encodeURIComponent(next)}`);
        expect(res.statusCode, next).toBe(200);
        expect(res.body, next).not.toContain('evil.example');
        expect(res.body, next).not.toContain('javascript:');
        expect(res.body, next).toContain('"next":null');
      }
    });

    it('cannot be made to run script through a result or an id', async () => {
      await start();
      const a = await account();
      const evil = '</script><script>alert(1)</script><img src=x onerror=alert(2)>';
      const job = await Deferred(a, h!.dataSource, 1, 'echo', evil);
      expect(await job.result({ timeoutMs: 10_000 })).toBe(evil);
      const res = await page(job.id);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('<script>alert(1)');
      expect(res.body).not.toContain('<img src=x');
      expect(res.body.match(/<script/g)).toHaveLength(1);
      const unknown = await page(encodeURIComponent('"><script>alert(3)</script>'));
      expect(unknown.statusCode).toBe(404);
      expect(unknown.body).not.toContain('<script>alert(3)');
      expect(unknown.body).toContain('&lt;script&gt;alert(3)');
    });

    it('an unknown job is a 404 HTML page that mentions the id', async () => {
      await start({}, false);
      const res = await page('no-such-job-42');
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toContain('no-such-job-42');
      expect(res.body).toContain('Unknown job');
    });
  });

  describe('bull-board at /queues', () => {
    it('shows a job\'s progress as a number (bull-board draws a bar) and its progress messages in the job log', async () => {
      await start();
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'countTo', 3, 80);
      await job.result({ timeoutMs: 10_000 });
      const list = await app!.inject({ url: '/deferred/queues/api/queues?activeQueue=default&status=completed&page=1&jobsPerPage=10', headers: admin });
      const listed = (list.json() as { queues: Array<{ name: string; jobs: Array<{ id: string; progress: unknown }> }> })
        .queues.find((q) => q.name === 'default')!.jobs.find((j) => j.id === job.id)!;
      expect(listed.progress).toBe(100);
      const logs = await app!.inject({ url: `/deferred/queues/api/queues/default/${job.id}/logs`, headers: admin });
      expect(logs.statusCode, logs.body).toBe(200);
      expect(logs.json()).toEqual(expect.arrayContaining(['step 1 of 3', 'step 3 of 3']));
    });

    const boardApi = '/deferred/queues/api/queues?activeQueue=default&status=completed&page=1&jobsPerPage=10';

    it('answers HTML to an admin and lists our job with decoded data and return value', async () => {
      await start();
      const ui = await app!.inject({ method: 'GET', url: '/deferred/queues', headers: admin });
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toMatch(/^text\/html/);

      const a = await account(10);
      const at = new Date('2025-01-02T03:04:05.000Z');
      const job = await Deferred(a, h!.dataSource, 7, 'echo', { when: at, amount: 5 });
      const dep = await Deferred(a, h!.dataSource, 7, 'deposit', 5);
      await job.result({ timeoutMs: 10_000 });
      await dep.result({ timeoutMs: 10_000 });

      const res = await app!.inject({ method: 'GET', url: boardApi, headers: admin });
      expect(res.statusCode, res.body).toBe(200);
      const queue = (res.json().queues as Array<{ name: string; readOnlyMode: boolean; jobs: Array<Record<string, any>> }>).find((q) => q.name === 'default')!;
      expect(queue).toBeDefined();
      expect(queue.readOnlyMode).toBe(false);
      const deposit = queue.jobs.find((j) => j.id === dep.id)!;
      expect(deposit, JSON.stringify(queue.jobs)).toBeDefined();
      expect(deposit.data).toMatchObject({ call: 'Account.deposit', uid: 7, args: [5] });
      expect(deposit.returnValue).toBe(15);
      const echo = queue.jobs.find((j) => j.id === job.id)!;
      expect(echo.data).toMatchObject({ call: 'Account.echo', uid: 7, args: [{ when: '2025-01-02T03:04:05.000Z', amount: 5 }] });
      expect(echo.data.args[0]).not.toHaveProperty('json');
      expect(echo.data.args).not.toHaveProperty('meta');
      expect(echo.returnValue).toEqual({ when: '2025-01-02T03:04:05.000Z', amount: 5 });
    });

    it('reports readOnlyMode with readOnly: true', async () => {
      await start({ readOnly: true });
      const a = await account();
      const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
      await job.result({ timeoutMs: 10_000 });
      const res = await app!.inject({ method: 'GET', url: boardApi, headers: admin });
      expect(res.statusCode, res.body).toBe(200);
      const queues = res.json().queues as Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string }> }>;
      expect(queues.map((q) => q.name).sort()).toEqual(['default', 'high', 'low']);
      for (const q of queues) expect(q.readOnlyMode, q.name).toBe(true);
      expect(queues.find((q) => q.name === 'default')!.jobs.map((j) => j.id)).toContain(job.id);
      // Read-only is enforced by the server too, not only by hiding buttons.
      const pause = await app!.inject({ method: 'PUT', url: '/deferred/queues/api/queues/default/pause', headers: admin });
      expect(pause.statusCode, pause.body).toBe(405);
      const after = await app!.inject({ method: 'GET', url: boardApi, headers: admin });
      expect((after.json().queues as Array<{ name: string; isPaused: boolean }>).find((q) => q.name === 'default')!.isPaused).toBe(false);
    });
  });

  describe('plugin options', () => {
    const codeOf = (p: PromiseLike<unknown>) => Promise.resolve(p).then(() => 'resolved', (e: DeferralError) => e.code);

    it('refuses a dashboard without any authentication: DEFER_ERR_INVALID_OPTION', async () => {
      h = await setup('sqlite', {}, false);
      for (const options of [{}, { tokens: {} }, { basicAuth: {} }, { tokens: {}, basicAuth: {}, readOnly: true }]) {
        const bare = Fastify();
        try {
          await bare.register(dashboardPlugin, { prefix: '/deferred', ...options });
          expect(await codeOf(bare.ready()), JSON.stringify(options)).toBe('DEFER_ERR_INVALID_OPTION');
        } catch (e) {
          expect((e as DeferralError).code, JSON.stringify(options)).toBe('DEFER_ERR_INVALID_OPTION');
        } finally {
          await bare.close().catch(() => undefined);
        }
      }
    });

    it('refuses a token shorter than 16 characters, and does not echo it in the error', async () => {
      h = await setup('sqlite', {}, false);
      const bare = Fastify();
      let error: DeferralError | undefined;
      try {
        await bare.register(dashboardPlugin, { prefix: '/deferred', tokens: { short123: { uid: 1 } } });
        await bare.ready();
      } catch (e) {
        error = e as DeferralError;
      } finally {
        await bare.close().catch(() => undefined);
      }
      expect(error?.code).toBe('DEFER_ERR_INVALID_OPTION');
      expect(error?.message).toMatch(/16/);
      expect(error?.message).not.toContain('short123');
      // Exactly 16 is enough.
      const ok = Fastify();
      try {
        await ok.register(dashboardPlugin, { prefix: '/deferred', tokens: { '0123456789abcdef': { uid: 1 } } });
        await ok.ready();
      } finally {
        await ok.close();
      }
    });
  });
});
