import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrown } from '../assert.js';
import {
  decodeArgs,
  decodeResult,
  encodeArgs,
  encodeResult,
  EntityRef,
  parsePayload,
  PAYLOAD_VERSION,
  type CallPayload,
} from '../../src/call/call.js';
import { DeferralError, type DeferralErrorCode } from '../../src/errors.js';
import { Account, ENTITIES, Membership } from '../fixtures/entities.js';

let dataSource: DataSource;
let alice: Account;
let bob: Account;
let membership: Membership;

beforeAll(async () => {
  dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: ENTITIES, synchronize: true });
  await dataSource.initialize();
  [alice, bob] = await dataSource.getRepository(Account).save([
    dataSource.getRepository(Account).create({ name: 'alice', balance: 10, note: null }),
    dataSource.getRepository(Account).create({ name: 'bob', balance: 20, note: 'hi' }),
  ]);
  membership = await dataSource.getRepository(Membership).save(
    dataSource.getRepository(Membership).create({ team: 'core', member: 7, role: 'member' }),
  );
});

afterAll(async () => {
  if (dataSource?.isInitialized) await dataSource.destroy();
});


function expectRefused(args: unknown[], code: DeferralErrorCode, path: string): DeferralError {
  const err = thrown(() => encodeArgs(args, dataSource));
  expect(err.code).toBe(code);
  expect(err.message).toContain(path);
  return err;
}

const roundTrip = (args: unknown[]) => decodeArgs(JSON.parse(JSON.stringify(encodeArgs(args, dataSource))));

describe('encodeArgs() / decodeArgs()', () => {
  it('produce plain JSON', () => {
    const encoded = encodeArgs([new Date(0), new Map([[1, 2]]), 3n], dataSource);
    expect(JSON.parse(JSON.stringify(encoded))).toEqual(encoded);
  });

  it('round-trip an empty argument list', () => {
    expect(roundTrip([])).toEqual([]);
  });

  it('round-trip primitives', () => {
    expect(roundTrip([1, 'two', true, null, -0.5])).toEqual([1, 'two', true, null, -0.5]);
  });

  it('round-trip a Date', () => {
    const [d] = roundTrip([new Date('2026-01-02T03:04:05.678Z')]);
    expect(d).toBeInstanceOf(Date);
    expect((d as Date).toISOString()).toBe('2026-01-02T03:04:05.678Z');
  });

  it('round-trip a Map', () => {
    const [m] = roundTrip([new Map<unknown, unknown>([['a', 1], [2, new Date(5)]])]);
    expect(m).toBeInstanceOf(Map);
    expect(m).toEqual(new Map<unknown, unknown>([['a', 1], [2, new Date(5)]]));
  });

  it('round-trip a Set', () => {
    const [s] = roundTrip([new Set(['x', 'y', 3])]);
    expect(s).toBeInstanceOf(Set);
    expect([...(s as Set<unknown>)]).toEqual(['x', 'y', 3]);
  });

  it('round-trip a BigInt', () => {
    const [b] = roundTrip([12345678901234567890n]);
    expect(typeof b).toBe('bigint');
    expect(b).toBe(12345678901234567890n);
  });

  it('round-trip undefined, at top level and inside objects and arrays', () => {
    const out = roundTrip([undefined, { a: undefined, b: 1 }, [1, undefined, 3]]);
    expect(out).toHaveLength(3);
    expect(out[0]).toBeUndefined();
    expect(Object.keys(out[1] as object)).toEqual(['a', 'b']);
    expect((out[1] as { a: unknown }).a).toBeUndefined();
    expect(out[2]).toHaveLength(3);
    expect((out[2] as unknown[])[1]).toBeUndefined();
    expect(1 in (out[2] as unknown[])).toBe(true);
  });

  it('round-trip NaN and infinities', () => {
    const [nan, inf, ninf] = roundTrip([NaN, Infinity, -Infinity]);
    expect(Number.isNaN(nan)).toBe(true);
    expect(inf).toBe(Infinity);
    expect(ninf).toBe(-Infinity);
  });

  it('round-trip nested plain objects and arrays', () => {
    const value = {
      a: [1, [2, [3, { deep: new Date(1000) }]]],
      b: { c: { d: new Set([new Map([['k', 1n]])]) } },
      e: Object.assign(Object.create(null), { bare: true }),
    };
    const [out] = roundTrip([value]);
    expect(out).toEqual({
      a: [1, [2, [3, { deep: new Date(1000) }]]],
      b: { c: { d: new Set([new Map([['k', 1n]])]) } },
      e: { bare: true },
    });
  });

  it('the same object twice (not a cycle) is accepted', () => {
    const shared = { x: 1 };
    const [out] = roundTrip([{ a: shared, b: shared }]);
    expect(out).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it('turn an entity instance into an EntityRef with entity name and primary key', () => {
    const [ref] = roundTrip([alice]);
    expect(ref).toBeInstanceOf(EntityRef);
    expect(ref).toEqual(new EntityRef('Account', { id: alice.id }));
    expect(typeof alice.id).toBe('number');
  });

  it('turn entities nested in objects, arrays, maps and sets into EntityRefs', () => {
    const [out] = roundTrip([{ to: bob, list: [alice, bob], byName: new Map([['alice', alice]]), set: new Set([bob]) }]);
    const o = out as { to: unknown; list: unknown[]; byName: Map<string, unknown>; set: Set<unknown> };
    expect(o.to).toEqual(new EntityRef('Account', { id: bob.id }));
    expect(o.list).toEqual([new EntityRef('Account', { id: alice.id }), new EntityRef('Account', { id: bob.id })]);
    expect(o.list[0]).toBeInstanceOf(EntityRef);
    expect(o.byName.get('alice')).toBeInstanceOf(EntityRef);
    expect([...o.set][0]).toEqual(new EntityRef('Account', { id: bob.id }));
  });

  it('an EntityRef carries the key only, not the other columns', () => {
    const encoded = JSON.stringify(encodeArgs([bob], dataSource));
    expect(encoded).not.toContain('"bob"');
    expect(encoded).not.toContain('"hi"');
  });

  it('handle a composite primary key', () => {
    const [ref] = roundTrip([membership]);
    expect(ref).toBeInstanceOf(EntityRef);
    expect(ref).toEqual(new EntityRef('Membership', { team: 'core', member: 7 }));
  });

  it('accept an unsaved-but-keyed composite record (keys given by the caller)', () => {
    const m = dataSource.getRepository(Membership).create({ team: 'ops', member: 1 });
    expect(roundTrip([m])).toEqual([new EntityRef('Membership', { team: 'ops', member: 1 })]);
  });

  describe('refusals', () => {
    it('a function nested in the 2nd argument, naming args[1].cb', () => {
      expectRefused([1, { cb: () => 1 }], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[1].cb');
    });

    it('a function as an argument, naming args[0]', () => {
      const err = expectRefused([function namedFn() {}], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0]');
      expect(err.details.path).toBe('args[0]');
    });

    it('a symbol, naming its path', () => {
      expectRefused([{ list: [1, Symbol('s')] }], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0].list[1]');
    });

    it('a class instance that is not an entity, naming its path and class', () => {
      class Foo { x = 1; }
      const err = expectRefused(['a', 'b', { nested: { foo: new Foo() } }], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[2].nested.foo');
      expect(err.message).toContain('Foo');
    });

    it('an anonymous class instance', () => {
      expectRefused([new (class {})()], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0]');
      // eslint-disable-next-line @typescript-eslint/no-extraneous-class
      expectRefused([new (class Foo {})()], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0]');
    });

    it('a typed array (would not come back the same)', () => {
      expectRefused([new Uint8Array([1, 2])], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0]');
    });

    it('a circular object', () => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      expectRefused([o], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0].self');
    });

    it('a circular array', () => {
      const a: unknown[] = [1];
      a.push({ back: a });
      expectRefused([0, a], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[1][1].back');
    });

    it('a function inside a Map value', () => {
      expectRefused([new Map([['k', () => 1]])], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0]');
    });

    it('an unsaved entity (no primary key) gives DEFER_ERR_UNSAVED_RECORD', () => {
      const fresh = dataSource.getRepository(Account).create({ name: 'carol' });
      const err = expectRefused([1, { who: fresh }], 'DEFER_ERR_UNSAVED_RECORD', 'args[1].who');
      expect(err.message).toContain('Account');
    });

    it('an unsaved entity made with new gives DEFER_ERR_UNSAVED_RECORD', () => {
      const fresh = new Account();
      fresh.name = 'dan';
      expectRefused([fresh], 'DEFER_ERR_UNSAVED_RECORD', 'args[0]');
    });

    it('a composite-key record missing part of its key gives DEFER_ERR_UNSAVED_RECORD', () => {
      const half = dataSource.getRepository(Membership).create({ team: 'core' });
      expectRefused([half], 'DEFER_ERR_UNSAVED_RECORD', 'args[0]');
    });
  });

  it('refuse an argument nested deeper than 100 levels, without overflowing the stack', () => {
    const nest = (n: number) => { let v: unknown = 0; for (let i = 0; i < n; i++) v = { v }; return v; };
    expect(roundTrip([nest(100)])).toEqual([nest(100)]);
    for (const n of [101, 100_000]) expect(expectRefused([nest(n)], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0].v.v').message).toContain('deeper than 100 levels');
  });

  it('refuse an object with an own __proto__ key (a copy would take it as its prototype)', () => {
    expectRefused([{ a: JSON.parse('{"__proto__": {"admin": true}}') }], 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT', 'args[0].a.__proto__');
  });

  it('decodeArgs() refuses, with DEFER_ERR_BAD_PAYLOAD, what superjson cannot decode and data too deep or with __proto__ keys', () => {
    const deep = JSON.parse(`[${'['.repeat(100_000)}${']'.repeat(100_000)}]`);
    for (const [i, args] of [
      { json: deep },
      { json: [JSON.parse('{"__proto__": {"admin": true}}')] },
      { json: [{}], meta: { values: { '0.__proto__': ['Date'] } } },
      { json: [1], meta: { values: { 0: ['Frobnicate'] } } },
      { json: [1], meta: { values: { 0: [['custom', 'nope']] } } },
      { json: ['x'], meta: { values: { 0: ['bigint'] } } },
      { json: [null], meta: { values: { 0: [['custom', 'typeorm-deferred:EntityRef']] } } },
    ].entries()) {
      expect(thrown(() => decodeArgs(args as never)).code, `case ${i}`).toBe('DEFER_ERR_BAD_PAYLOAD');
    }
  });

  it('decodeArgs() refuses superjson output that is not an array', () => {
    const err = thrown(() => decodeArgs({ json: { a: 1 } }));
    expect(err.code).toBe('DEFER_ERR_BAD_PAYLOAD');
  });
});

describe('encodeResult() / decodeResult()', () => {
  const rt = (v: unknown) => decodeResult(JSON.parse(JSON.stringify(encodeResult(v))));

  it('write a versioned envelope of plain JSON', () => {
    const stored = encodeResult({ a: 1 });
    expect(stored.v).toBe(PAYLOAD_VERSION);
    expect(JSON.parse(JSON.stringify(stored))).toEqual(stored);
  });

  it('round-trip rich values', () => {
    const value = { at: new Date(42), tags: new Set(['a']), m: new Map([[1, 'one']]), big: 9n, nan: NaN, u: undefined, list: [1, 'x', null] };
    const out = rt(value) as typeof value;
    expect(out.at).toEqual(new Date(42));
    expect(out.tags).toEqual(new Set(['a']));
    expect(out.m).toEqual(new Map([[1, 'one']]));
    expect(out.big).toBe(9n);
    expect(Number.isNaN(out.nan)).toBe(true);
    expect('u' in out).toBe(true);
    expect(out.u).toBeUndefined();
    expect(out.list).toEqual([1, 'x', null]);
  });

  it('round-trip primitives and undefined', () => {
    for (const v of [0, 'done', true, null, 3.25]) expect(rt(v)).toEqual(v);
    expect(rt(undefined)).toBeUndefined();
  });

  it('turn entity instances into plain objects', () => {
    const out = rt({ account: alice, all: [alice, bob] }) as { account: unknown; all: unknown[] };
    expect(out.account).not.toBeInstanceOf(Account);
    expect(Object.getPrototypeOf(out.account)).toBe(Object.prototype);
    expect(out.account).toEqual({ id: alice.id, name: 'alice', balance: 10, note: null });
    expect(out.all[1]).toEqual({ id: bob.id, name: 'bob', balance: 20, note: 'hi' });
  });

  it('turn a top-level entity into a plain object', () => {
    const out = rt(membership);
    expect(out).toEqual({ team: 'core', member: 7, role: 'member' });
    expect(out).not.toBeInstanceOf(Membership);
  });

  it('drop functions', () => {
    const out = rt({ a: 1, f: () => 2, nested: { g() { return 3; }, b: 2 } }) as Record<string, unknown>;
    expect(out).toEqual({ a: 1, nested: { b: 2 } });
    expect(Object.keys(out)).toEqual(['a', 'nested']);
    expect(Object.keys(out.nested as object)).toEqual(['b']);
  });

  it('a function as the whole result becomes undefined', () => {
    expect(rt(() => 1)).toBeUndefined();
  });

  it('do not choke on a cyclic result', () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    expect(() => encodeResult(o)).not.toThrow();
    expect((rt(o) as { a: number }).a).toBe(1);
  });

  it('decodeResult() passes through values not written by encodeResult()', () => {
    for (const v of ['raw', 42, null, undefined, true, [1, 2], { done: true }, { v: 2, result: { json: 1 } }, { v: 1 }]) {
      expect(decodeResult(v)).toEqual(v);
    }
    const obj = { some: 'thing' };
    expect(decodeResult(obj)).toBe(obj);
  });
});

describe('parsePayload()', () => {
  const good = (): CallPayload => ({
    v: PAYLOAD_VERSION,
    ds: 'main',
    target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }, { id: 'two' }], many: true },
    method: 'deposit',
    uid: 42,
    args: encodeArgs([5, new Date(0)], dataSource),
    opts: { transaction: true, skipMissing: false, timeout: 1000 },
  });

  function expectBad(data: unknown, ...mentions: string[]): DeferralError {
    const err = thrown(() => parsePayload(data));
    expect(err.code).toBe('DEFER_ERR_BAD_PAYLOAD');
    for (const m of mentions) expect(err.message).toContain(m);
    return err;
  }

  const withPatch = (patch: Record<string, unknown>) => ({ ...good(), ...patch });

  it('accepts a good payload and returns it', () => {
    const p = good();
    expect(parsePayload(p)).toBe(p);
  });

  it('accepts model and repository targets, string uids and no timeout', () => {
    expect(() => parsePayload(withPatch({ target: { kind: 'model', entity: 'Account' } }))).not.toThrow();
    expect(() => parsePayload(withPatch({ target: { kind: 'repository', name: 'AccountRepository' } }))).not.toThrow();
    expect(() => parsePayload(withPatch({ uid: 'user-1' }))).not.toThrow();
    expect(() => parsePayload(withPatch({ opts: { transaction: false, skipMissing: true } }))).not.toThrow();
    expect(() => parsePayload(withPatch({ target: { kind: 'records', entity: 'Membership', ids: [{ team: 'core', member: 7 }], many: false } }))).not.toThrow();
  });

  it('accepts a payload that went through JSON', () => {
    expect(() => parsePayload(JSON.parse(JSON.stringify(good())))).not.toThrow();
  });

  it('refuses null', () => { expectBad(null, 'null'); });
  it('refuses a string', () => { expectBad('{"v":1}', 'not an object'); });
  it('refuses an array', () => { expectBad([good()], 'not an object'); });
  it('refuses undefined and numbers', () => { expectBad(undefined); expectBad(1); });

  it('refuses v: 2, saying version', () => {
    expectBad(withPatch({ v: 2 }), 'version', '2');
  });

  it('refuses a missing version', () => {
    const p = good() as Partial<CallPayload>;
    delete p.v;
    expectBad(p, 'version');
  });

  it('refuses a missing or empty ds', () => {
    const p = good() as Partial<CallPayload>;
    delete p.ds;
    expectBad(p, 'ds');
    expectBad(withPatch({ ds: '' }), 'ds');
    expectBad(withPatch({ ds: 1 }), 'ds');
  });

  it('refuses a non-string or empty method', () => {
    expectBad(withPatch({ method: 7 }), 'method');
    expectBad(withPatch({ method: ['deposit'] }), 'method');
    expectBad(withPatch({ method: '' }), 'method');
  });

  it('refuses an object, null, NaN or missing uid', () => {
    expectBad(withPatch({ uid: { id: 1 } }), 'uid');
    expectBad(withPatch({ uid: null }), 'uid');
    expectBad(withPatch({ uid: NaN }), 'uid');
    const p = good() as Partial<CallPayload>;
    delete p.uid;
    expectBad(p, 'uid');
  });

  it('refuses args that are not superjson output', () => {
    expectBad(withPatch({ args: [1, 2] }), 'args');
    expectBad(withPatch({ args: { meta: {} } }), 'args');
    expectBad(withPatch({ args: null }), 'args');
  });

  it('refuses a missing or non-object target', () => {
    const p = good() as Partial<CallPayload>;
    delete p.target;
    expectBad(p, 'target');
    expectBad(withPatch({ target: 'Account' }), 'target');
    expectBad(withPatch({ target: [] }), 'target');
  });

  it('refuses bad target kinds', () => {
    expectBad(withPatch({ target: { kind: 'function', entity: 'Account' } }), 'target.kind', '"function"');
    expectBad(withPatch({ target: { entity: 'Account' } }), 'target.kind');
    expectBad(withPatch({ target: { kind: 1 } }), 'target.kind');
  });

  it('refuses a model or records target without an entity', () => {
    expectBad(withPatch({ target: { kind: 'model' } }), 'target.entity');
    expectBad(withPatch({ target: { kind: 'model', entity: '' } }), 'target.entity');
    expectBad(withPatch({ target: { kind: 'records', entity: 3, ids: [{ id: 1 }], many: false } }), 'target.entity');
  });

  it('refuses a repository target without a name', () => {
    expectBad(withPatch({ target: { kind: 'repository' } }), 'target.name');
    expectBad(withPatch({ target: { kind: 'repository', name: {} } }), 'target.name');
  });

  it('refuses a records target with non-array ids', () => {
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: { id: 1 }, many: false } }), 'target.ids');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: 1, many: false } }), 'target.ids');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', many: false } }), 'target.ids');
  });

  it('refuses a records target with ids holding object values', () => {
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [{ id: { $gt: 0 } }], many: true } }), 'target.ids');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [{ id: null }], many: true } }), 'target.ids');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [{}], many: true } }), 'target.ids');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [1], many: true } }), 'target.ids');
  });

  it('refuses a records target without a boolean many', () => {
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }] } }), 'target.many');
    expectBad(withPatch({ target: { kind: 'records', entity: 'Account', ids: [{ id: 1 }], many: 'yes' } }), 'target.many');
  });

  it('refuses missing opts', () => {
    const p = good() as Partial<CallPayload>;
    delete p.opts;
    expectBad(p, 'opts');
  });

  it('refuses opts with missing or non-boolean flags', () => {
    expectBad(withPatch({ opts: { skipMissing: false } }), 'opts');
    expectBad(withPatch({ opts: { transaction: 'yes', skipMissing: false } }), 'opts');
    expectBad(withPatch({ opts: { transaction: true, skipMissing: 0 } }), 'opts');
  });

  it('refuses a negative, zero or non-numeric opts.timeout', () => {
    expectBad(withPatch({ opts: { transaction: true, skipMissing: false, timeout: -1 } }), 'timeout');
    expectBad(withPatch({ opts: { transaction: true, skipMissing: false, timeout: 0 } }), 'timeout');
    expectBad(withPatch({ opts: { transaction: true, skipMissing: false, timeout: '100' } }), 'timeout');
  });

  it('puts the reason in details', () => {
    const err = expectBad(withPatch({ method: 1 }));
    expect(typeof err.details.why).toBe('string');
  });
});
