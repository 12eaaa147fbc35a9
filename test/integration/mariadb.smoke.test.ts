import { QueryFailedError } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred } from '../../src/index.js';
import { isTransientDbError } from '../../src/worker/transient.js';
import { Account } from '../fixtures/entities.js';
import { failure } from '../assert.js';
import { setup, type Harness } from '../helpers.js';


describe('MariaDB smoke', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  const account = (name: string, balance: number) => h.dataSource.manager.save(h.dataSource.manager.create(Account, { name, balance, note: null }));
  const balanceOf = async (id: number) => (await h.dataSource.manager.findOneByOrFail(Account, { id })).balance;

  it('runs a record-level deferred method and commits its write', async () => {
    h = await setup('mariadb');
    expect(h.dataSource.options.type).toBe('mariadb');
    const a = await account('a', 10);
    const job = await Deferred(a, h.dataSource, 1, 'deposit', 5);
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    expect(await job.state()).toBe('completed');
    expect(await balanceOf(a.id)).toBe(15);
  });

  it('rolls back the method\'s writes when it throws', async () => {
    h = await setup('mariadb');
    const a = await account('a', 10);
    const job = await Deferred(a, h.dataSource, 1, 'depositThenFail', 5, 'card declined');
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.code).toBe('DEFER_ERR_JOB_FAILED');
    expect(err.details.remoteMessage).toBe('card declined');
    expect(await balanceOf(a.id)).toBe(10);
    expect(await job.state()).toBe('failed');
  });

  it('recognises a real lock wait timeout (ER_LOCK_WAIT_TIMEOUT) thrown through TypeORM as transient', async () => {
    h = await setup('mariadb', {}, false);
    const a = await account('a', 10);
    const holder = h.dataSource.createQueryRunner();
    const waiter = h.dataSource.createQueryRunner();
    try {
      await holder.startTransaction();
      await holder.query('UPDATE account SET balance = balance + 1 WHERE id = ?', [a.id]);
      await waiter.query('SET SESSION innodb_lock_wait_timeout = 1');
      let caught: unknown;
      try {
        await waiter.query('UPDATE account SET balance = balance + 2 WHERE id = ?', [a.id]);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(QueryFailedError);
      const driverError = (caught as QueryFailedError & { driverError: { code?: string; errno?: number } }).driverError;
      expect(driverError.code).toBe('ER_LOCK_WAIT_TIMEOUT');
      expect(driverError.errno).toBe(1205);
      expect(isTransientDbError(caught)).toBe(true);
      await waiter.query('SET SESSION innodb_lock_wait_timeout = DEFAULT');
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
      await waiter.release();
    }
    expect(await balanceOf(a.id)).toBe(10);
  });
});
