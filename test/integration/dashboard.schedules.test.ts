import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin, type DashboardOptions } from '../../dashboard/index.js';
import { defineTask, getJob, schedule } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const TOKENS: DashboardOptions['tokens'] = {
  'admin-token-0123456789abcdef': { uid: 'ops', admin: true },
  'owner-token-0123456789abcdef': { uid: 'ann' },
  'other-token-0123456789abcdef': { uid: 'bob' },
};
const as = (who: 'admin' | 'owner' | 'other') => ({ authorization: `Bearer ${who}-token-0123456789abcdef` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

defineTask('test-dash-tick', () => 'ticked');

describe('dashboard: schedules (GET /api/schedules, GET /schedules)', () => {
  let h: Harness | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  async function start(): Promise<FastifyInstance> {
    h = await setup('sqlite');
    app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens: TOKENS });
    await app.ready();
    const account = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'd', balance: 0, note: null }));
    await schedule('ann-nightly', { cron: '0 3 * * *', tz: 'Europe/Paris' }, { model: account, db: 'main', uid: 'ann', method: 'deposit', args: [1] });
    await schedule('system-tick', { every: 1000 }, { task: 'test-dash-tick' });
    return app;
  }

  it('an admin sees every schedule with its next run and its last job, and that job has a progress page', async () => {
    await start();
    let body: { schedules: Array<Record<string, any>> } | undefined;
    for (const end = Date.now() + 5_000; Date.now() < end; await sleep(100)) {
      body = (await app!.inject({ url: '/deferred/api/schedules', headers: as('admin') })).json();
      if (body!.schedules.find((s) => s.name === 'system-tick')?.last?.state === 'completed') break;
    }
    const [nightly, tick] = body!.schedules;
    expect(nightly).toMatchObject({ name: 'ann-nightly', queue: 'default', when: { cron: '0 3 * * *', tz: 'Europe/Paris' }, target: { model: 'Account', method: 'deposit', uid: 'ann' }, origin: 'api' });
    expect(Date.parse(nightly.next)).toBeGreaterThan(Date.now());
    expect(nightly.last).toBeUndefined();
    expect(tick).toMatchObject({ name: 'system-tick', when: { every: 1000 }, target: { task: 'test-dash-tick', uid: 'system' }, last: { state: 'completed', jobId: expect.stringMatching(/^repeat:system-tick:\d+$/) } });
    expect(Date.parse(tick.next)).toBeGreaterThan(Date.parse(tick.last.at));
    expect(await (await getJob(tick.last.jobId))!.result()).toBe('ticked');

    const page = await app!.inject({ url: '/deferred/schedules', headers: as('admin') });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<td>ann-nightly</td><td>0 3 * * * (Europe/Paris)</td><td>Account.deposit [id=1]</td>');
    expect(page.body).toContain(`<td class="next">${nightly.next}</td>`);
    expect(page.body).toContain('every 1s');
    expect(page.body).toContain(`href="/deferred/jobs/${encodeURIComponent(tick.last.jobId)}"`);
    const progress = await app!.inject({ url: `/deferred/jobs/${encodeURIComponent(tick.last.jobId)}`, headers: as('admin') });
    expect(progress.statusCode).toBe(200);
  });

  it('a user sees only the schedules that run as them; nobody unauthenticated sees any', async () => {
    await start();
    const ann = (await app!.inject({ url: '/deferred/api/schedules', headers: as('owner') })).json() as { schedules: Array<{ name: string }> };
    expect(ann.schedules.map((s) => s.name)).toEqual(['ann-nightly']);
    const bob = (await app!.inject({ url: '/deferred/api/schedules', headers: as('other') })).json() as { schedules: unknown[] };
    expect(bob.schedules).toEqual([]);
    const bobPage = await app!.inject({ url: '/deferred/schedules', headers: as('other') });
    expect(bobPage.body).toContain('No schedules that you can see.');
    expect(bobPage.body).not.toContain('ann-nightly');
    for (const url of ['/deferred/api/schedules', '/deferred/schedules']) expect((await app!.inject({ url })).statusCode).toBe(401);
  });
});
