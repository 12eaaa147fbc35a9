import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, getJob } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

describe('smoke', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  it('runs a record-level call', async () => {
    h = await setup('sqlite');
    const acc = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'a', balance: 10, note: null }));
    const job = await Deferred(acc, h.dataSource, 7, 'deposit', 5);
    expect(await job.result({ timeoutMs: 10_000 })).toBe(15);
    expect((await getJob(job.id))?.queue).toBe('default');
  });
});
