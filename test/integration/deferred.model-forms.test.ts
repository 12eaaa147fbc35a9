import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, getJob, HighPriorityDeferred, LowPriorityDeferred, registerRepository } from '../../src/index.js';
import { Account, Membership } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

const AccountRepository = registerRepository(Account, (base) => base.extend({
  async richest(this: typeof base, min: number): Promise<string[]> {
    const rows = await this.find({ order: { balance: 'DESC' } });
    return rows.filter((a) => a.balance >= min).map((a) => a.name);
  },
}));

describe.each(DB_KINDS)('Deferred model and db forms on %s', (kind) => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  const account = (name: string, balance: number) => h.dataSource.manager.save(h.dataSource.manager.create(Account, { name, balance, note: null }));

  it('runs a static method of an entity class', async () => {
    h = await setup(kind);
    await account('a', 10);
    await account('b', 32);
    const job = await Deferred(Account, h.dataSource, 1, 'totalBalance');
    expect(await job.result({ timeoutMs: 10_000 })).toBe(42);
  });

  it('runs a static method named by entity name, with superjson arguments and result', async () => {
    h = await setup(kind);
    const openedAt = new Date('2026-01-02T03:04:05.678Z');
    const job = await Deferred('Account', 'main', 1, 'open', 'z', 5, openedAt, new Set(['x', 'y']));
    const result = (await job.result({ timeoutMs: 10_000 })) as { id: number; openedAt: Date; tags: Set<string> };
    expect(result.openedAt).toBeInstanceOf(Date);
    expect(result.openedAt.toISOString()).toBe(openedAt.toISOString());
    expect(result.tags).toEqual(new Set(['x', 'y']));
    expect(await h.dataSource.manager.findOneByOrFail(Account, { id: result.id })).toMatchObject({ name: 'z', balance: 5 });
  });

  it('reloads a record by primary key and calls the instance method in a committed transaction', async () => {
    h = await setup(kind);
    const a = await account('a', 10);
    a.balance = 999; // unsaved change: the worker must reload, not trust the caller's copy
    const job = await Deferred(a, h.dataSource, 1, 'deposit', 5);
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(15);
  });

  it('calls the method on each record of an array and returns the array of results', async () => {
    h = await setup(kind);
    const rows = [await account('a', 1), await account('b', 2), await account('c', 3)];
    const job = await Deferred(rows, h.dataSource, 1, 'deposit', 10);
    expect(await job.result({ timeoutMs: 10_000 })).toEqual([11, 12, 13]);
  });

  it('reloads records passed inside the arguments', async () => {
    h = await setup(kind);
    const from = await account('from', 100);
    const to = await account('to', 0);
    const job = await Deferred(from, h.dataSource, 1, 'transfer', to, 30);
    expect(await job.result({ timeoutMs: 10_000 })).toEqual({ from: 70, to: 30 });
  });

  it('works with a composite primary key', async () => {
    h = await setup(kind);
    const m = await h.dataSource.manager.save(h.dataSource.manager.create(Membership, { team: 'red', member: 7, role: 'member' }));
    const job = await Deferred(m, h.dataSource, 1, 'promote', 'captain');
    expect(await job.result({ timeoutMs: 10_000 })).toBe('red/7=captain');
    expect((await h.dataSource.manager.findOneByOrFail(Membership, { team: 'red', member: 7 })).role).toBe('captain');
  });

  it('rebuilds a registered custom repository in the worker (factory and instance forms)', async () => {
    h = await setup(kind);
    await account('poor', 1);
    await account('rich', 100);
    const viaFactory = await Deferred(AccountRepository, h.dataSource, 1, 'richest', 50);
    const viaInstance = await Deferred(AccountRepository(h.dataSource), h.dataSource, 1, 'richest', 0);
    expect(await viaFactory.result({ timeoutMs: 10_000 })).toEqual(['rich']);
    expect(await viaInstance.result({ timeoutMs: 10_000 })).toEqual(['rich', 'poor']);
  });

  it('accepts the data source by object, by name and through an EntityManager', async () => {
    h = await setup(kind);
    const a = await account('a', 0);
    const byObject = await Deferred(a, h.dataSource, 1, 'deposit', 1);
    expect(await byObject.result({ timeoutMs: 10_000 })).toBe(1);
    const byName = await Deferred(a, 'main', 1, 'deposit', 1);
    expect(await byName.result({ timeoutMs: 10_000 })).toBe(2);
    const byManager = await Deferred(a, h.dataSource.manager, 1, 'deposit', 1);
    expect(await byManager.result({ timeoutMs: 10_000 })).toBe(3);
  });

  it('exposes uid, queue, attempt and job id through currentJob(), and the variants pick their queue', async () => {
    h = await setup(kind);
    const a = await account('a', 0);
    const high = await HighPriorityDeferred(a, h.dataSource, 'alice', 'whoAmI');
    const low = await LowPriorityDeferred(a, h.dataSource, 42, 'whoAmI');
    expect(high.queue).toBe('high');
    expect(low.queue).toBe('low');
    expect(await high.result({ timeoutMs: 10_000 })).toEqual({ uid: 'alice', queue: 'high', attempt: 1, jobId: high.id });
    expect(await low.result({ timeoutMs: 10_000 })).toEqual({ uid: 42, queue: 'low', attempt: 1, jobId: low.id });
    expect((await getJob(high.id))?.queue).toBe('high');
    expect((await getJob(low.id))?.queue).toBe('low');
  });
});
