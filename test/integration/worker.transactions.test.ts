import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredType } from '../../src/index.js';
import { Account, flakyCounts } from '../fixtures/entities.js';
import { failure } from '../assert.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';


describe.each(DB_KINDS)('worker transactions and failures on %s', (kind) => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  const account = (name: string, balance: number) => h.dataSource.manager.save(h.dataSource.manager.create(Account, { name, balance, note: null }));
  const balanceOf = async (id: number) => (await h.dataSource.manager.findOneByOrFail(Account, { id })).balance;

  it('rolls back the method\'s writes when it throws, and result() rejects with the remote message and stack', async () => {
    h = await setup(kind);
    const a = await account('a', 10);
    const job = await Deferred(a, h.dataSource, 1, 'depositThenFail', 5, 'card declined');
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.code).toBe('DEFER_ERR_JOB_FAILED');
    expect(err.details.remoteMessage).toBe('card declined');
    expect(String(err.details.remoteStack)).toContain('depositThenFail');
    expect(await balanceOf(a.id)).toBe(10);
    expect(await job.state()).toBe('failed');
    const snap = await job.snapshot();
    expect(snap.error?.message).toBe('card declined');
  });

  it('without a transaction, writes before the error stay', async () => {
    h = await setup(kind);
    const a = await account('a', 10);
    const job = await DeferredType({ transaction: false })(a, h.dataSource, 1, 'depositThenFail', 5, 'late failure');
    await failure(job.result({ timeoutMs: 10_000 }));
    expect(await balanceOf(a.id)).toBe(15);
  });

  it('fails a job whose record was deleted with DEFER_ERR_RECORD_NOT_FOUND and does not retry it', async () => {
    h = await setup(kind);
    const a = await account('a', 10);
    const job = await DeferredType({ countdown: 0.3, attempts: 3 })(a, h.dataSource, 1, 'deposit', 5);
    await h.dataSource.manager.delete(Account, { id: a.id });
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.code).toBe('DEFER_ERR_JOB_FAILED');
    expect(err.details.remoteCode).toBe('DEFER_ERR_RECORD_NOT_FOUND');
    expect(err.details.attemptsMade).toBe(1);
  });

  it('skips deleted records when asked with skipMissing', async () => {
    h = await setup(kind);
    const rows = [await account('a', 1), await account('b', 2), await account('c', 3)];
    const job = await DeferredType({ countdown: 0.3, skipMissing: true })(rows, h.dataSource, 1, 'deposit', 10);
    await h.dataSource.manager.delete(Account, { id: rows[1].id });
    expect(await job.result({ timeoutMs: 10_000 })).toEqual([11, 13]);
  });

  it('retries an ordinary failure according to attempts and backoff', async () => {
    h = await setup(kind);
    const a = await account('a', 0);
    const job = await DeferredType({ attempts: 3, backoff: 50 })(a, h.dataSource, 1, 'depositThenFail', 1, 'always');
    const err = await failure(job.result({ timeoutMs: 15_000 }));
    expect(err.details.attemptsMade).toBe(3);
    expect(await balanceOf(a.id)).toBe(0);
  });

  it('fails an attempt that runs past its timeout with DEFER_ERR_TIMEOUT, aborting the signal', async () => {
    h = await setup(kind);
    const a = await account('a', 0);
    const job = await DeferredType({ timeout: 200 })(a, h.dataSource, 1, 'wait', 5_000);
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.details.remoteCode).toBe('DEFER_ERR_TIMEOUT');
  });
});

describe('transient database errors on postgres', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());

  it('re-runs the transaction inside the attempt after a real serialization failure', async () => {
    h = await setup('postgres');
    const key = `k${Date.now()}`;
    const job = await Deferred(Account, h.dataSource, 1, 'flaky', key, 2);
    expect(await job.result({ timeoutMs: 10_000 })).toBe(3);
    expect((await job.snapshot()).attemptsMade).toBe(1); // one BullMQ attempt, three runs inside it
    expect(flakyCounts.get(key)).toBe(3);
  });

  it('gives up after a few in-attempt retries and fails the attempt', async () => {
    h = await setup('postgres');
    const job = await Deferred(Account, h.dataSource, 1, 'flaky', `k${Date.now()}`, 99);
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.details.remoteMessage).toContain('simulated conflict');
  });
});
