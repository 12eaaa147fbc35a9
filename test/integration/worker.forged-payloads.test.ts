import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { configure, Deferred, DeferredJobRecord, DeferredType, getJob, PAYLOAD_VERSION, type DeferralError } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { failure } from '../assert.js';
import { Account, ENTITIES, Membership } from '../fixtures/entities.js';
import { ALL_DB_KINDS, REDIS_URL, setup, type DbKind, type Harness } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A payload written by someone else: a good one, with `over` replacing parts of it. */
const forged = (over: Record<string, unknown>) => ({
  v: PAYLOAD_VERSION, ds: 'main', target: { kind: 'model', entity: 'Account' }, method: 'totalBalance', uid: 1,
  args: { json: [] }, opts: { transaction: true, skipMissing: false }, ...over,
});
const onRecords = (entity: string, ids: unknown[], method = 'deposit', args: unknown = { json: [100] }) =>
  forged({ target: { kind: 'records', entity, ids, many: ids.length > 1 }, method, args });
/** Superjson output of one argument `json` with `meta`. */
const withArgs = (json: unknown[], meta?: unknown) => forged({ method: 'echo', target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }], many: false }, args: { json, ...(meta ? { meta } : {}) } });
const ref = (e: unknown, id: unknown) => withArgs([{ e, id }], { values: { 0: [['custom', 'typeorm-deferred:EntityRef']] } });
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

type Case = [name: string, data: unknown, code: string];
/** Data written as is into the job hash: not what a BullMQ client would write. */
type RawCase = [name: string, rawJson: string, code: string];

const CASES: Case[] = [
  ['a string', 'just a string', 'DEFER_ERR_BAD_PAYLOAD'],
  ['a number', 42, 'DEFER_ERR_BAD_PAYLOAD'],
  ['null', null, 'DEFER_ERR_BAD_PAYLOAD'],
  ['an array', [1, 2], 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown version', forged({ v: 2 }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['no version', forged({ v: undefined }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a numeric data source name', forged({ ds: 7 }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown data source', forged({ ds: 'elsewhere' }), 'DEFER_ERR_UNKNOWN_DATA_SOURCE'],
  ['__proto__ as data source', forged({ ds: '__proto__' }), 'DEFER_ERR_UNKNOWN_DATA_SOURCE'],
  ['an empty method', forged({ method: '' }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an object uid', forged({ uid: { admin: true } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a null uid', forged({ uid: null }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['no args', forged({ args: undefined }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['args that are not an array', forged({ args: { json: { a: 1 } } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['no target', forged({ target: undefined }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown target kind', forged({ target: { kind: 'shell' } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['no opts', forged({ opts: undefined }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a negative timeout', forged({ opts: { transaction: true, skipMissing: false, timeout: -5 } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown entity', forged({ target: { kind: 'model', entity: 'Nope' } }), 'DEFER_ERR_UNKNOWN_MODEL'],
  ['remove on a record', onRecords('Account', [{ id: 1 }], 'remove', { json: [] }), 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
  ['constructor on a model', forged({ method: 'constructor' }), 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
  ['no ids', onRecords('Account', []), 'DEFER_ERR_BAD_PAYLOAD'],
  ['two ids, many false', forged({ target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }, { id: 2 }], many: false }, method: 'deposit', args: { json: [1] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an id holding an object', onRecords('Account', [{ id: { $gt: 0 } }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an empty key {}', onRecords('Account', [{}]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a key on a non-key column', onRecords('Account', [{ name: 'victim' }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a key on an unknown column', onRecords('Account', [{ nope: 1 }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['the key plus another column', onRecords('Account', [{ id: 1, name: 'victim' }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a string for an integer key', onRecords('Account', [{ id: 'abc' }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['digits as a string for an integer key', onRecords('Account', [{ id: '1' }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a fraction for an integer key', onRecords('Account', [{ id: 1.5 }]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['one good id and one empty key', onRecords('Account', [{ id: 1 }, {}]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['half a composite key', onRecords('Membership', [{ team: 'red' }], 'promote', { json: ['boss'] }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a number for a varchar key part', onRecords('Membership', [{ team: 1, member: 2 }], 'promote', { json: ['boss'] }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a string for an integer key part', onRecords('Membership', [{ team: 'red', member: '2' }], 'promote', { json: ['boss'] }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a key longer than its varchar column', onRecords('Effect', [{ jobId: 'x'.repeat(200) }], 'attemptOf', { json: [] }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a NUL in a string key', onRecords('Effect', [{ jobId: 'a\u0000b' }], 'attemptOf', { json: [] }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['__proto__ in the superjson meta', withArgs([{}], { values: { '0.__proto__': ['Date'] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['constructor.prototype in the superjson meta', withArgs([{}], { values: { '0.constructor.prototype.x': ['Date'] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown superjson type', withArgs([1], { values: { 0: ['Frobnicate'] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['an unknown superjson custom type', withArgs([1], { values: { 0: [['custom', 'nope']] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a BigInt that is not a number', withArgs(['x'], { values: { 0: ['bigint'] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['__proto__ as a key of an argument', withArgs([JSON.parse('{"__proto__": {"admin": true}}')]), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a record reference with an empty key', ref('Account', {}), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a record reference on a non-key column', ref('Account', { name: 'victim' }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a record reference with a wrong key type', ref('Account', { id: 'abc' }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a record reference to an unknown entity', ref('Nope', { id: 1 }), 'DEFER_ERR_UNKNOWN_MODEL'],
  ['a record reference that is null', withArgs([null], { values: { 0: [['custom', 'typeorm-deferred:EntityRef']] } }), 'DEFER_ERR_BAD_PAYLOAD'],
  ['a record that does not exist', onRecords('Account', [{ id: 999_999 }]), 'DEFER_ERR_RECORD_NOT_FOUND'],
];

const RAW_CASES: RawCase[] = [
  ['data that is not JSON', '{not json', 'DEFER_ERR_BAD_PAYLOAD'],
  ['arguments nested 100,000 deep', JSON.stringify(forged({ method: 'echo', target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }], many: false } })).replace('"json":[]', `"json":[${deep(100_000)}]`), 'DEFER_ERR_BAD_PAYLOAD'],
  ['arguments nested 150 deep', JSON.stringify(forged({ method: 'echo', target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }], many: false } })).replace('"json":[]', `"json":[${deep(150)}]`), 'DEFER_ERR_BAD_PAYLOAD'],
];

describe.each(ALL_DB_KINDS)('payloads forged in Redis, on %s', (kind: DbKind) => {
  let h: Harness | undefined;
  let raw: Queue | undefined;
  afterEach(async () => {
    await raw?.close();
    await h?.cleanup();
    h = raw = undefined;
  });

  it(`${CASES.length + RAW_CASES.length} forged payloads each fail on their first attempt with a code, touch nothing, and the worker keeps serving`, async () => {
    h = await setup(kind, {}, false);
    raw = new Queue('default', { connection: { url: REDIS_URL } as never, prefix: h.prefix });
    const victim = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'victim', balance: 5, note: null }));
    await h.dataSource.manager.save(h.dataSource.manager.create(Membership, { team: 'red', member: 2, role: 'member' }));
    const errors: string[] = [];
    const ids: string[] = [];
    for (const [, data] of CASES) ids.push((await raw.add('forged', data, { attempts: 3 })).id!);
    const redis = new Redis(REDIS_URL);
    try {
      for (const [, json] of RAW_CASES) {
        const job = await raw.add('forged', {}, { attempts: 3, delay: 60_000 });
        await redis.hset(`${h.prefix}:default:${job.id}`, 'data', json);
        await job.promote();
        ids.push(job.id!);
      }
    } finally {
      redis.disconnect();
    }
    await h.startWorker({ relay: false, logger: { info: () => undefined, warn: () => undefined, error: (_fields, m) => { if (m !== 'job failed') errors.push(m ?? ''); } } });
    const all = [...CASES, ...RAW_CASES];
    for (let i = 0; i < 400 && (await raw.getJobCounts('failed')).failed < all.length; i++) await sleep(50);

    const outcomes = await Promise.all(ids.map(async (id, i) => {
      const job = (await producerQueue('default').getJob(id))!;
      const code = await (await getJob(id))!.result({ timeoutMs: 1_000 }).then(() => 'no error', (err: DeferralError) => err.details.remoteCode ?? err.code);
      return [all[i][0], await job.getState(), job.attemptsMade, code];
    }));
    expect(outcomes).toEqual(all.map(([name, , code]) => [name, 'failed', 1, code]));
    // Nothing ran on any record, and the worker never failed itself.
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: victim.id })).balance).toBe(5);
    expect((await h.dataSource.manager.findOneByOrFail(Membership, { team: 'red', member: 2 })).role).toBe('member');
    expect(errors).toEqual([]);
    const good = await Deferred(victim, h.dataSource, 1, 'deposit', 1);
    expect(await good.result({ timeoutMs: 10_000 })).toBe(6);
  }, 60_000);
});

describe.each(ALL_DB_KINDS)('bad input at enqueue, on %s with the job table', (kind: DbKind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  const nest = (n: number) => {
    let v: unknown = 'bottom';
    for (let i = 0; i < n; i++) v = { v };
    return v;
  };

  it('every refusal is a DeferralError with a code, before anything reaches the table or Redis', async () => {
    h = await setup(kind, {}, false, { entities: [...ENTITIES, DeferredJobRecord] });
    const ds = h.dataSource;
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'a', balance: 1, note: null }));
    const many = Array.from({ length: 400 }, (_, i) => ds.manager.create(Account, { id: 1_000_000 + i, name: `n${i}`, balance: 0, note: null }));
    const unsaved = ds.manager.create(Account, { name: 'new', balance: 0, note: null });
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ['a 10 kB jobId', async () => DeferredType({ jobId: 'j'.repeat(10_000) }), 'DEFER_ERR_INVALID_OPTION'],
      ['a jobId with a NUL', async () => DeferredType({ jobId: 'a\u0000b' }), 'DEFER_ERR_INVALID_OPTION'],
      ['a jobId with a newline', async () => DeferredType({ jobId: 'a\nb' }), 'DEFER_ERR_INVALID_OPTION'],
      ['a jobId with a colon', async () => DeferredType({ jobId: 'a:b' }), 'DEFER_ERR_INVALID_OPTION'],
      ['an integer jobId', async () => DeferredType({ jobId: '42' }), 'DEFER_ERR_INVALID_OPTION'],
      ['an empty jobId', async () => DeferredType({ jobId: '' }), 'DEFER_ERR_INVALID_OPTION'],
      ['a 300-character uid', () => Deferred(a, ds, 'u'.repeat(300), 'deposit', 1), 'DEFER_ERR_INVALID_OPTION'],
      ['a uid with a NUL', () => Deferred(a, ds, 'a\u0000', 'deposit', 1), 'DEFER_ERR_INVALID_OPTION'],
      ['an object uid', () => Deferred(a, ds, { id: 1 } as never, 'deposit', 1), 'DEFER_ERR_INVALID_OPTION'],
      ['an infinite uid', () => Deferred(a, ds, Infinity, 'deposit', 1), 'DEFER_ERR_INVALID_OPTION'],
      ['an argument nested 100,000 deep', () => Deferred(a, ds, 1, 'echo', nest(100_000)), 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT'],
      ['an argument nested 101 deep', () => Deferred(a, ds, 1, 'echo', nest(101)), 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT'],
      ['an argument with a __proto__ key', () => Deferred(a, ds, 1, 'echo', JSON.parse('{"__proto__": {"admin": true}}')), 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT'],
      ['a function argument', () => Deferred(a, ds, 1, 'echo', () => 1), 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT'],
      ['a 1 MB argument', () => Deferred(a, ds, 1, 'echo', 'x'.repeat(1_000_000)), 'DEFER_ERR_PAYLOAD_TOO_LARGE'],
      ['the keys of 400 records in the job table', () => Deferred(many, ds, 1, 'deposit', 1), 'DEFER_ERR_PAYLOAD_TOO_LARGE'],
      ['an unsaved record', () => Deferred(unsaved, ds, 1, 'deposit', 1), 'DEFER_ERR_UNSAVED_RECORD'],
      ['an unknown data source', () => Deferred(a, 'elsewhere', 1, 'deposit', 1), 'DEFER_ERR_UNKNOWN_DATA_SOURCE'],
      ['a method that is not deferrable', () => Deferred(a, ds, 1, 'notMarked'), 'DEFER_ERR_METHOD_NOT_DEFERRABLE'],
      ['a negative countdown', async () => DeferredType({ countdown: -1 }), 'DEFER_ERR_INVALID_OPTION'],
    ];
    if (kind === 'mariadb') cases.push(['a 100 kB argument, more than the job table\'s text column', () => Deferred(a, ds, 1, 'echo', 'x'.repeat(100_000)), 'DEFER_ERR_PAYLOAD_TOO_LARGE']);
    const outcomes: unknown[] = [];
    for (const [name, call] of cases) {
      const err = await failure(call());
      outcomes.push([name, err.code, err.message.length < 400]);
    }
    expect(outcomes).toEqual(cases.map(([name, , code]) => [name, code, true]));
    expect(await ds.manager.count(DeferredJobRecord)).toBe(0);
    const counts = await producerQueue('default').getJobCounts();
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(0);
    // Just inside the limits: accepted.
    await expect(Deferred(a, ds, 'u'.repeat(255), 'echo', nest(100))).resolves.toBeDefined();
    await expect(DeferredType({ jobId: 'j'.repeat(128) })(a, ds, 1, 'deposit', 1)).resolves.toBeDefined();
  });

  it('configure({ maxPayloadBytes }) sets the limit', async () => {
    h = await setup(kind, { maxPayloadBytes: 1_000 }, false, { entities: [...ENTITIES, DeferredJobRecord] });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'a', balance: 1, note: null }));
    await expect(Deferred(a, h.dataSource, 1, 'echo', 'x'.repeat(500))).resolves.toBeDefined();
    const err = await failure(Deferred(a, h.dataSource, 1, 'echo', 'x'.repeat(1_000)));
    expect([err.code, err.message]).toEqual(['DEFER_ERR_PAYLOAD_TOO_LARGE', expect.stringContaining('configure({ maxPayloadBytes })')]);
    expect(() => configure({ dataSources: {}, maxPayloadBytes: -1 })).toThrow(/maxPayloadBytes/);
  });
});
