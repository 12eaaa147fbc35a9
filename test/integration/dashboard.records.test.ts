import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../dashboard/index.js';
import { Deferred, DeferredJobRecord, DeferredType } from '../../src/index.js';
import { newRecord } from '../../src/outbox/records.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const tokens = {
  'owner-token-0123456789': { uid: 'ann' },
  'other-token-0123456789': { uid: 'bob' },
  'admin-token-0123456789': { uid: 'root', admin: true },
};
const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe('dashboard: the jobs of a record, from the job table', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('lists a record\'s jobs; users see their own, admins all; 401 without credentials; 404 for a model without records', async () => {
    h = await setup('sqlite', {}, {}, { entities: [...ENTITIES, DeferredJobRecord] });
    const app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'r', balance: 0, note: null }));
    const mine = await Deferred(a, h.dataSource, 'ann', 'deposit', 1);
    const theirs = await Deferred(a, h.dataSource, 'bob', 'deposit', 2);
    await Promise.all([mine.result({ timeoutMs: 10_000 }), theirs.result({ timeoutMs: 10_000 })]);
    const url = `/deferred/api/records/Account/${a.id}/jobs`;

    const owner = await app.inject({ url, headers: as('owner-token-0123456789') });
    expect(owner.statusCode).toBe(200);
    expect(owner.json()).toMatchObject({ model: 'Account', id: String(a.id), jobs: [{ id: mine.id, method: 'deposit', state: 'completed', uid: 'ann', percent: 100 }] });
    expect(owner.json().jobs[0].payload).toBeUndefined();

    const admin = await app.inject({ url, headers: as('admin-token-0123456789') });
    expect(admin.json().jobs.map((j: { id: string }) => j.id).sort()).toEqual([mine.id, theirs.id].sort());

    expect((await app.inject({ url })).statusCode).toBe(401);
    expect((await app.inject({ url: '/deferred/api/records/Account/999999/jobs', headers: as('admin-token-0123456789') })).json().jobs).toEqual([]);
    expect((await app.inject({ url: '/deferred/api/records/Nope/1/jobs', headers: as('admin-token-0123456789') })).statusCode).toBe(404);
  });

  it('the job API shows its owner a job not in Redis: pending (not pushed yet) or removed by BullMQ retention', async () => {
    h = await setup('sqlite', {}, {}, { entities: [...ENTITIES, DeferredJobRecord] });
    const app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', tokens });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'r', balance: 0, note: null }));
    const pending = newRecord(`pending-${h.prefix}`, {
      v: 1, ds: 'main', target: { kind: 'records', entity: 'Account', ids: [{ id: a.id }], many: false }, method: 'deposit', uid: 'ann',
      args: { json: [1] }, opts: { transaction: true, skipMissing: false },
    }, { queue: 'default', runAt: Date.now(), attempts: 1 });
    await h.dataSource.manager.insert(DeferredJobRecord, pending);
    const forgotten = await DeferredType({ removeOnComplete: true })(a, h.dataSource, 'ann', 'deposit', 2);
    expect(await forgotten.result({ timeoutMs: 10_000 })).toBe(2);

    const seen = await app.inject({ url: `/deferred/api/jobs/${pending.id}`, headers: as('owner-token-0123456789') });
    expect(seen.statusCode).toBe(200);
    expect(seen.json()).toMatchObject({ id: pending.id, state: 'pending', done: false, uid: 'ann', name: 'Account.deposit' });
    expect((await app.inject({ url: `/deferred/api/jobs/${pending.id}`, headers: as('other-token-0123456789') })).statusCode).toBe(404);

    const done = await app.inject({ url: `/deferred/api/jobs/${forgotten.id}`, headers: as('owner-token-0123456789') });
    expect(done.json()).toMatchObject({ id: forgotten.id, state: 'completed', done: true, percent: 100, result: 2 });
  });
});
