import { afterEach, describe, expect, it } from 'vitest';
import { Deferred } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

describe.each(DB_KINDS)('nested Deferred calls on %s', (kind) => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  const account = (balance: number) => h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'n', balance, note: null }));

  it('runs inline in the enclosing job with allowNested false, returning a completed handle', async () => {
    h = await setup(kind);
    const a = await account(1);
    const job = await Deferred(a, h.dataSource, 1, 'nestedDeposit', 10, false);
    const r = await job.result({ timeoutMs: 10_000 });
    expect(r).toMatchObject({ state: 'completed', value: 11, sameJob: true });
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(11);
  });

  it('enqueues a separate job with allowNested true', async () => {
    h = await setup(kind);
    const a = await account(1);
    const outer = await Deferred(a, h.dataSource, 1, 'nestedDeposit', 10, true);
    const r = await outer.result({ timeoutMs: 10_000 });
    expect(r.sameJob).toBe(false);
    // Deferred through the job's transactional manager: pushed when the enclosing job commits.
    expect(r.state).toBe('pending');
    const inner = await import('../../src/index.js').then((m) => m.getJob(r.jobId));
    expect(await inner!.result({ timeoutMs: 10_000 })).toBe(11);
  });

  it('an inline nested call shares the enclosing transaction: the outer failure rolls it back', async () => {
    h = await setup(kind);
    const a = await account(1);
    const job = await Deferred(a, h.dataSource, 1, 'nestedThenFail', 10);
    const err = await job.result({ timeoutMs: 10_000 }).catch((e: { details: { remoteMessage: string } }) => e);
    expect((err as { details: { remoteMessage: string } }).details.remoteMessage).toBe('outer failed after nested deposit');
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(1);
  });

  it('progress reported by an inline nested call counts towards the enclosing job', async () => {
    h = await setup(kind);
    const a = await account(1);
    const job = await Deferred(a, h.dataSource, 1, 'nestedCount', 4, 150);
    const seen = new Set<number>();
    while ((await job.state()) !== 'completed') {
      seen.add((await job.progress()).percent);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect([...seen].some((p) => p > 0 && p < 100)).toBe(true);
    expect(await job.progress()).toEqual({ percent: 100, message: 'step 4 of 4' });
  });
});
