import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin, isCrossSite, type DashboardOptions } from '../../dashboard/index.js';
import { Deferred, DeferredJobRecord } from '../../src/index.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const ADMIN = 'admin-token-0123456789abcdef';
const OWNER = 'owner-token-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN}` };
const owner = { authorization: `Bearer ${OWNER}` };

describe('dashboard: errors never reach a caller who is not admin', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  /** The dashboard on PostgreSQL with the job table; what fastify logs goes to `logs`. */
  async function start(options: Partial<DashboardOptions> = {}): Promise<{ app: FastifyInstance; logs: string[] }> {
    h = await setup('postgres', {}, false, { entities: [...ENTITIES, DeferredJobRecord] });
    const logs: string[] = [];
    const stream = new Writable({ write(chunk, _enc, done) { logs.push(String(chunk)); done(); } });
    const app = h.closeWith(Fastify({ logger: { level: 'error', stream } }));
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens: { [ADMIN]: { uid: 'ops', admin: true }, [OWNER]: { uid: 1 } }, ...options });
    await app.ready();
    return { app, logs };
  }

  it('ids no job can have (a NUL, a newline, a colon, too long) are 404 (414) on every route, with no database message', async () => {
    const { app, logs } = await start();
    const jobUrls = ['a%00b', '%0A', 'a:b', 'x'.repeat(129)].flatMap((id) => [`/deferred/api/jobs/${id}`, `/deferred/api/jobs/${id}/events`, `/deferred/jobs/${id}`]);
    // A record key may hold a colon (composite keys do): only control characters are refused there.
    const recordUrls = ['a%00b', '%0A'].flatMap((bad) => [`/deferred/api/records/Account/${bad}/jobs`, `/deferred/api/records/Acc${bad}ount/1/jobs`]);
    const urls = [...jobUrls, ...recordUrls];
    for (const url of urls) {
      for (const headers of [owner, admin]) {
        const res = await app.inject({ method: 'GET', url, headers });
        // Fastify itself answers 414 for a path parameter longer than its maxParamLength (100).
        expect([url, res.statusCode]).toEqual([url, url.includes('x'.repeat(129)) ? 414 : 404]);
        expect(res.body).not.toMatch(/invalid byte sequence|syntax|QueryFailed|0x00/i);
      }
    }
    const cancel = await app.inject({ method: 'POST', url: '/deferred/api/jobs/a%00b/cancel', headers: owner });
    expect(cancel.statusCode).toBe(404);
    expect(logs).toEqual([]);
  });

  it('a malformed URL is a 400 from fastify, not an internal error', async () => {
    const { app } = await start();
    const res = await app.inject({ method: 'GET', url: '/deferred/api/jobs/%E0%A4%A', headers: owner });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'FST_ERR_BAD_URL' });
  });

  it('an authenticate() hook that throws is a 500 with a generic body and a request id; its message goes to the log only', async () => {
    const { app, logs } = await start({ authenticate: () => { throw new Error('could not reach sessions db with password hunter2'); } });
    const res = await app.inject({ method: 'GET', url: '/deferred/api/jobs/anything' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal error', requestId: expect.any(String) });
    expect(res.body).not.toContain('hunter2');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(logs.join('')).toContain('hunter2');
    expect(logs.join('')).toContain(res.json().requestId);
  });

  it('a failing query is a generic 500 for a user and shows its message to an admin only', async () => {
    const { app, logs } = await start();
    const a = await h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'a', balance: 1, note: null }));
    const job = await Deferred(a, h!.dataSource, 1, 'deposit', 1);
    await (await import('../../src/queues.js')).producerQueue('default').remove(job.id);
    // The job is gone from Redis, so its row is read: make that read fail.
    await h!.dataSource.query(`ALTER TABLE "${(h!.dataSource.options as { schema: string }).schema}"."deferred_job" RENAME TO "gone"`);
    const asUser = await app.inject({ method: 'GET', url: `/deferred/api/jobs/${job.id}`, headers: owner });
    expect(asUser.statusCode).toBe(500);
    expect(asUser.json()).toEqual({ error: 'internal error', requestId: expect.any(String) });
    const asAdmin = await app.inject({ method: 'GET', url: `/deferred/api/jobs/${job.id}`, headers: admin });
    expect(asAdmin.statusCode).toBe(500);
    expect(asAdmin.json()).toMatchObject({ error: 'internal error', message: expect.stringContaining('deferred_job') });
    expect(logs.join('')).toContain('deferred_job');
  });
});

describe('isCrossSite() fails closed', () => {
  const host = 'app.example:3000';
  it.each([
    ['no Origin, no Sec-Fetch-Site (a same-origin form or a non-browser client)', { host }, false],
    ['the same origin', { host, origin: 'http://app.example:3000' }, false],
    ['Sec-Fetch-Site: same-origin', { host, 'sec-fetch-site': 'same-origin' }, false],
    ['another origin', { host, origin: 'http://evil.example' }, true],
    ['Sec-Fetch-Site: cross-site', { host, 'sec-fetch-site': 'cross-site' }, true],
    ['Origin: null (an opaque origin)', { host, origin: 'null' }, true],
    ['an Origin that is not a URL', { host, origin: 'not a url' }, true],
    ['Origin sent twice (an array), the first one ours', { host, origin: ['http://app.example:3000', 'http://evil.example'] }, true],
    ['Sec-Fetch-Site sent twice', { host, 'sec-fetch-site': ['same-origin', 'cross-site'] }, true],
    ['an Origin without a Host header', { origin: 'http://app.example:3000' }, true],
    ['a Host header sent twice', { host: [host, host], origin: 'http://app.example:3000' }, true],
  ] as const)('%s → %s', (_name, headers, expected) => {
    expect(isCrossSite(headers as Record<string, string | string[]>)).toBe(expected);
  });
});
