import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Deferred, getJob, isDeferralError, PAYLOAD_VERSION, registerRepository, type CallPayload, type DeferralError } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { REDIS_URL, setup, type Harness } from '../helpers.js';

registerRepository(Account, (base) => base.extend({ async hello(): Promise<string> { return 'hi'; } }), { name: 'SecurityRepo' });

async function remoteCode(id: string): Promise<string | undefined> {
  const job = await getJob(id);
  try {
    await job!.result({ timeoutMs: 10_000 });
  } catch (err) {
    return (err as DeferralError).details.remoteCode as string | undefined;
  }
  return 'completed';
}

const payload = (over: Partial<CallPayload>): CallPayload => ({
  v: PAYLOAD_VERSION, ds: 'main', target: { kind: 'model', entity: 'Account' }, method: 'totalBalance', uid: 1,
  args: { json: [] }, opts: { transaction: true, skipMissing: false }, ...over,
});

describe('payloads forged in Redis', () => {
  let h: Harness;
  let raw: Queue;
  afterEach(async () => {
    await raw?.close();
    await h?.cleanup();
  });

  async function forge(data: unknown): Promise<string> {
    const job = await raw.add('forged', data, { jobId: `forged-${Math.random().toString(36).slice(2)}` });
    return job.id!;
  }

  it('refuses every method that is not marked deferrable, and keeps serving good jobs', async () => {
    h = await setup('sqlite');
    raw = new Queue('default', { connection: { url: REDIS_URL } as never, prefix: h.prefix });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'victim', balance: 5, note: null }));
    const record = { kind: 'records' as const, entity: 'Account', ids: [{ id: a.id }], many: false };
    const cases: Array<[Partial<CallPayload>, string]> = [
      [{ target: record, method: 'remove' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: record, method: 'notMarked' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: record, method: 'constructor' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: record, method: '__proto__' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: record, method: 'toString' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ method: 'notMarkedStatic' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ method: 'query' }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: { kind: 'repository', name: 'SecurityRepo' }, method: 'query', args: { json: ['DELETE FROM account'] } }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: { kind: 'repository', name: 'SecurityRepo' }, method: 'delete', args: { json: [{}] } }, 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      [{ target: { kind: 'repository', name: 'NoSuchRepo' }, method: 'hello' }, 'DEFER_ERR_UNKNOWN_MODEL'],
      [{ target: { kind: 'model', entity: 'Object' }, method: 'assign' }, 'DEFER_ERR_UNKNOWN_MODEL'],
      [{ ds: 'elsewhere' }, 'DEFER_ERR_UNKNOWN_DATA_SOURCE'],
      [{ ds: '__proto__' }, 'DEFER_ERR_UNKNOWN_DATA_SOURCE'],
    ];
    const ids = await Promise.all(cases.map(([over]) => forge(payload(over))));
    for (const [i, id] of ids.entries()) expect([cases[i][0].method, await remoteCode(id)]).toEqual([cases[i][0].method, cases[i][1]]);
    expect(await h.dataSource.manager.countBy(Account, { id: a.id })).toBe(1);
    const repo = await forge(payload({ target: { kind: 'repository', name: 'SecurityRepo' }, method: 'hello' }));
    expect(await remoteCode(repo)).toBe('completed');
  });

  it('fails garbage and unknown payload versions with DEFER_ERR_BAD_PAYLOAD without retrying, and keeps serving', async () => {
    h = await setup('sqlite');
    raw = new Queue('default', { connection: { url: REDIS_URL } as never, prefix: h.prefix });
    const garbage = ['just a string', 42, null, [1, 2], { v: 2, ds: 'main' }, payload({ uid: { admin: true } as never }), payload({ target: { kind: 'shell' } as never })];
    for (const data of garbage) {
      const id = await raw.add('garbage', data, { attempts: 3 }).then((j) => j.id!);
      const err = await getJob(id).then((j) => j!.result({ timeoutMs: 10_000 })).catch((e: DeferralError) => e);
      expect(isDeferralError(err) && err.details.remoteCode).toBe('DEFER_ERR_BAD_PAYLOAD');
      expect((await raw.getJob(id))!.attemptsMade).toBe(1);
    }
    // Data that is not even JSON, written straight into the job hash.
    const delayed = await raw.add('broken', payload({}), { delay: 60_000, jobId: 'broken-json' });
    const redis = new Redis(REDIS_URL);
    await redis.hset(`${h.prefix}:default:${delayed.id}`, 'data', '{not json');
    redis.disconnect();
    await delayed.promote();
    await new Promise((r) => setTimeout(r, 500));
    const good = await Deferred(Account, h.dataSource, 1, 'totalBalance');
    expect(await good.result({ timeoutMs: 10_000 })).toBe(0);
  });
});

describe('authorize', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());

  it('is asked with the uid and the call before the method runs; false or a throw fail with DEFER_ERR_NOT_AUTHORIZED', async () => {
    const seen: unknown[] = [];
    h = await setup('sqlite', {
      authorize: (uid, call) => {
        seen.push({ uid, model: call.model, method: call.method, ids: call.ids, kind: call.kind, queue: call.queue });
        if (uid === 'mallory') throw new Error('directory down');
        return uid !== 'eve';
      },
    });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'a', balance: 1, note: null }));
    const ok = await Deferred(a, h.dataSource, 'alice', 'deposit', 1);
    expect(await ok.result({ timeoutMs: 10_000 })).toBe(2);
    for (const uid of ['eve', 'mallory']) {
      const job = await Deferred(a, h.dataSource, uid, 'deposit', 100);
      expect(await remoteCode(job.id)).toBe('DEFER_ERR_NOT_AUTHORIZED');
    }
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(2);
    expect(seen[0]).toEqual({ uid: 'alice', model: 'Account', method: 'deposit', ids: [{ id: a.id }], kind: 'records', queue: 'default' });
  });
});

describe('errors at enqueue time', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());

  const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: DeferralError) => e.code);

  it('names the problem before anything reaches Redis', async () => {
    h = await setup('sqlite', {}, false);
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'a', balance: 1, note: null }));
    const unsaved = h.dataSource.manager.create(Account, { name: 'new', balance: 0, note: null });
    expect(await codeOf(Deferred(a, 'nowhere', 1, 'deposit', 1))).toBe('DEFER_ERR_UNKNOWN_DATA_SOURCE');
    expect(await codeOf(Deferred('Nope', 'main', 1, 'x'))).toBe('DEFER_ERR_UNKNOWN_MODEL');
    expect(await codeOf(Deferred({ id: 1 } as never, 'main', 1, 'deposit' as never))).toBe('DEFER_ERR_UNKNOWN_MODEL');
    expect(await codeOf(Deferred(a, 'main', 1, 'notMarked'))).toBe('DEFER_ERR_METHOD_NOT_DEFERRABLE');
    expect(await codeOf(Deferred(Account, 'main', 1, 'notMarkedStatic'))).toBe('DEFER_ERR_METHOD_NOT_DEFERRABLE');
    expect(await codeOf(Deferred(unsaved, 'main', 1, 'deposit', 1))).toBe('DEFER_ERR_UNSAVED_RECORD');
    expect(await codeOf(Deferred(a, 'main', 1, 'transfer', unsaved, 1))).toBe('DEFER_ERR_UNSAVED_RECORD');
    const err = await Deferred(a, 'main', 1, 'echo', { nested: { cb: () => 1 } }).catch((e: DeferralError) => e);
    expect(isDeferralError(err, 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT') && err.message).toContain('args[0].nested.cb');
    expect(await codeOf(Deferred(a, 'main', { id: 1 } as never, 'deposit', 1))).toBe('DEFER_ERR_INVALID_OPTION');
    const counts = await (await import('../../src/queues.js')).producerQueue('default').getJobCounts();
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(0);
  });
});
