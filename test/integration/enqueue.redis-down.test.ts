import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord } from '../../src/index.js';
import { PRODUCER_READY_TIMEOUT_MS } from '../../src/queues.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

// Nothing listens on port 1: a producer that never gets a connection.
const DOWN = { connection: 'redis://127.0.0.1:1' };

describe('Deferred() while Redis is unreachable', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });
  const start = (entities = ENTITIES) => setup('sqlite', DOWN, false, { entities }).then((harness) => (h = harness));
  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'd', balance: 0, note: null }));

  it('without a job table, fails with DEFER_ERR_REDIS_UNAVAILABLE instead of hanging', async () => {
    await start();
    const a = await account();
    const t0 = Date.now();
    const err = await failure(Deferred(a, h!.dataSource, 1, 'deposit', 1));
    expect(err.code).toBe('DEFER_ERR_REDIS_UNAVAILABLE');
    expect(Date.now() - t0).toBeLessThan(PRODUCER_READY_TIMEOUT_MS + 2_000);
  });

  it('without a job table, in a transaction: the commit stands and result() says the push failed', async () => {
    await start();
    const a = await account();
    const job = await h!.dataSource.transaction((manager) => Deferred(a, manager, 1, 'deposit', 1));
    expect((await failure(job.result({ timeoutMs: PRODUCER_READY_TIMEOUT_MS + 5_000 }))).code).toBe('DEFER_ERR_REDIS_UNAVAILABLE');
  });

  it('with a job table, returns a pending handle: the row waits for the relay', async () => {
    await start([...ENTITIES, DeferredJobRecord]);
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'deposit', 1);
    expect(await h!.dataSource.manager.findOneBy(DeferredJobRecord, { id: job.id })).toMatchObject({ state: 'pending' });
    // Reading Redis fails clearly too, rather than hanging the caller (a dashboard request, a poll).
    expect((await failure(job.state())).code).toBe('DEFER_ERR_REDIS_UNAVAILABLE');
  });
});
