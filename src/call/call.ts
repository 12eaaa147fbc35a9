import SuperJSON from 'superjson';
import { In, type DataSource, type EntityManager, type ObjectLiteral } from 'typeorm';
import { DeferralError } from '../errors.js';
import { MAX_ARG_DEPTH } from '../limits.js';
import { show, type QueueName } from '../options.js';
import { unreadableData } from './readable-job.js';

/** The user a job runs for. */
export type Uid = string | number;

/** The payload version this library writes; workers refuse others with DEFER_ERR_BAD_PAYLOAD. */
export const PAYLOAD_VERSION = 1;

/** A primary key as a column → value map (one entry, or several for composite keys). */
export type IdMap = Record<string, string | number>;

/** What a call is made on. */
export type CallTarget =
  | { kind: 'model'; entity: string }
  | { kind: 'records'; entity: string; ids: IdMap[]; many: boolean }
  | { kind: 'repository'; name: string }
  | { kind: 'task'; name: string };

/** What a target is called: the entity, repository or task name. */
export function targetName(target: CallTarget): string {
  return target.kind === 'repository' || target.kind === 'task' ? target.name : target.entity;
}

/** The BullMQ job data of a deferred call. Plain JSON; `args` is superjson output. */
export interface CallPayload {
  v: typeof PAYLOAD_VERSION;
  ds: string;
  target: CallTarget;
  method: string;
  uid: Uid;
  args: { json: unknown; meta?: unknown };
  opts: { transaction: boolean; skipMissing: boolean; timeout?: number };
  /** The W3C `traceparent` of the enqueue's span, when something traces: attempts join that trace. */
  trace?: string;
}

/**
 * What `authorize(uid, call)` sees: the call as the worker is about to run it.
 * Records in `args` are {@link EntityRef}s here; they are loaded after authorization.
 */
export interface CallInfo {
  dataSource: string;
  kind: CallTarget['kind'];
  /** Entity name, or repository name for repository calls. */
  model: string;
  method: string;
  /** Primary keys of the records, for record-level calls. */
  ids?: IdMap[];
  args: unknown[];
  uid: Uid;
  queue?: QueueName;
  jobId?: string;
}

/** A record inside the arguments, travelling as entity name + primary key. */
export class EntityRef {
  constructor(readonly entity: string, readonly id: IdMap) {}
}

// A private instance so our custom type never leaks into the application's superjson.
const codec = new SuperJSON();
codec.registerCustom<EntityRef, { e: string; id: IdMap }>(
  {
    isApplicable: (v): v is EntityRef => v instanceof EntityRef,
    serialize: (r) => ({ e: r.entity, id: r.id }),
    deserialize: (r) => new EntityRef(r.e, r.id),
  },
  'typeorm-deferred:EntityRef',
);

const PASS_THROUGH = [Date, RegExp, URL, Error] as const;

/** True for an instance of a class the data source maps. */
function entityMetadataOf(dataSource: DataSource, value: object) {
  const ctor = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor !== Object && dataSource.hasMetadata(ctor) ? dataSource.getMetadata(ctor) : undefined;
}

/** The primary key of a record, or DEFER_ERR_UNSAVED_RECORD. */
export function idOf(dataSource: DataSource, record: ObjectLiteral, where: string): { entity: string; id: IdMap } {
  const metadata = entityMetadataOf(dataSource, record);
  if (!metadata) {
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `${where} is not an entity instance of this data source (a plain object, e.g. what save(Entity, {...}) returns, cannot be reloaded: use repository.create() or a loaded record)`, { where });
  }
  const id = metadata.getEntityIdMap(record) as Record<string, unknown> | undefined;
  const values = id ? Object.values(id) : [];
  if (!id || values.length === 0 || values.some((v) => v === undefined || v === null)) {
    throw new DeferralError('DEFER_ERR_UNSAVED_RECORD', `${where} (${metadata.name}) has no primary key yet: save it before deferring a call on it`, { entity: metadata.name, where });
  }
  for (const v of values) {
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new DeferralError('DEFER_ERR_UNSERIALIZABLE_ARGUMENT', `${where} (${metadata.name}) has a primary key of type ${typeof v}; only string and number keys can travel`, { entity: metadata.name, where });
    }
  }
  return { entity: metadata.name, id: id as IdMap };
}

function unserializable(path: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_UNSERIALIZABLE_ARGUMENT', `${path} cannot be deferred: ${why} (${show(value)})`, { path });
}

/**
 * Copies a value into something superjson round-trips exactly, replacing records
 * by {@link EntityRef}s. Refuses, naming the path, whatever would not come back
 * the same: functions, symbols, class instances, typed arrays, cycles.
 */
function toWire(value: unknown, path: string, dataSource: DataSource, stack: object[]): unknown {
  switch (typeof value) {
    case 'function': throw unserializable(path, value, 'functions cannot be serialized');
    case 'symbol': throw unserializable(path, value, 'symbols cannot be serialized');
    case 'object': break;
    default: return value;
  }
  if (value === null) return null;
  if (PASS_THROUGH.some((C) => value instanceof C)) return value;
  if (stack.includes(value)) throw unserializable(path, '[Circular]', 'it refers to itself');
  // Deep data would overflow the stack here, in superjson and in the worker: refuse it by name.
  if (stack.length >= MAX_ARG_DEPTH) throw unserializable(`${path.slice(0, 60)}…`, '[deep]', `it nests deeper than ${MAX_ARG_DEPTH} levels`);
  stack.push(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => toWire(v, `${path}[${i}]`, dataSource, stack));
    if (value instanceof Map) return new Map([...value].map(([k, v], i) => [toWire(k, `${path}.keys[${i}]`, dataSource, stack), toWire(v, `${path}.get(${show(k)})`, dataSource, stack)]));
    if (value instanceof Set) return new Set([...value].map((v, i) => toWire(v, `${path}.values[${i}]`, dataSource, stack)));
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (k === '__proto__') throw unserializable(`${path}.__proto__`, v, 'a key named __proto__ would set the prototype of the copy instead');
        out[k] = toWire(v, `${path}.${k}`, dataSource, stack);
      }
      return out;
    }
    if (entityMetadataOf(dataSource, value)) {
      const { entity, id } = idOf(dataSource, value, path);
      return new EntityRef(entity, id);
    }
    throw unserializable(path, value, `an instance of ${proto?.constructor?.name ?? 'an unknown class'} would arrive as a plain object; pass plain data or a saved entity`);
  } finally {
    stack.pop();
  }
}

/** Encodes call arguments; throws DEFER_ERR_UNSERIALIZABLE_ARGUMENT naming the argument. */
export function encodeArgs(args: readonly unknown[], dataSource: DataSource): CallPayload['args'] {
  const wire = args.map((a, i) => toWire(a, `args[${i}]`, dataSource, []));
  return codec.serialize(wire) as CallPayload['args'];
}

/**
 * What is wrong with plain JSON before superjson walks it, or undefined: nested deeper than
 * `maxDepth`, or an object with an own `__proto__` key (which a copy would turn into its prototype).
 * Iterative, so data of any depth is safe to look at.
 */
function jsonProblem(value: unknown, maxDepth: number): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > maxDepth) return `they nest deeper than ${MAX_ARG_DEPTH} levels`;
    if (!Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, '__proto__')) return 'an object in them has a key named __proto__';
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return undefined;
}

/**
 * Decodes arguments; records stay {@link EntityRef}s until {@link loadRefs}. Data superjson cannot
 * decode (unknown types, `__proto__` paths, data too deep) is DEFER_ERR_BAD_PAYLOAD, never retried.
 */
export function decodeArgs(args: CallPayload['args']): unknown[] {
  const bad = (why: string, cause?: unknown) => new DeferralError('DEFER_ERR_BAD_PAYLOAD', `Bad payload: ${why}`, { why }, { cause });
  // The array, each argument, then the argument's own levels; superjson's meta mirrors the data's paths.
  const problem = jsonProblem(args.json, MAX_ARG_DEPTH + 1) ?? jsonProblem(args.meta, 2 * MAX_ARG_DEPTH + 8);
  if (problem) throw bad(`args cannot be read: ${problem}`);
  // Without meta superjson has nothing to restore: it would only copy what JSON.parse just built.
  if (args.meta === undefined && Array.isArray(args.json)) return args.json;
  let value: unknown;
  try {
    value = codec.deserialize(args as Parameters<typeof codec.deserialize>[0]);
  } catch (err) {
    throw bad(`args do not decode (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (!Array.isArray(value)) throw bad('args do not decode to an array');
  return value;
}

/**
 * Replaces every {@link EntityRef} by the record loaded through `manager`.
 * One query at a time: a transaction's connection runs one query at once anyway.
 */
export async function loadRefs(value: unknown, manager: EntityManager): Promise<unknown> {
  if (value instanceof EntityRef) return loadRecord(manager, value.entity, value.id);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) out.push(await loadRefs(v, manager));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    for (const [k, v] of value) out.set(await loadRefs(k, manager), await loadRefs(v, manager));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    for (const v of value) out.add(await loadRefs(v, manager));
    return out;
  }
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await loadRefs(v, manager);
    return out;
  }
  return value;
}

/**
 * Loads records in the order of `ids`; a single-column key takes one IN query.
 * A missing record is DEFER_ERR_RECORD_NOT_FOUND, or left out when `allowMissing`.
 */
export async function loadRecords(manager: EntityManager, entity: string, ids: IdMap[], allowMissing = false, cls?: EntityClass): Promise<ObjectLiteral[]> {
  const columns = Object.keys(ids[0] ?? {});
  if (ids.length < 2 || columns.length !== 1 || ids.some((id) => Object.keys(id).length !== 1 || !(columns[0] in id))) {
    const out: ObjectLiteral[] = [];
    for (const id of ids) {
      const record = await loadRecord(manager, entity, id, allowMissing, cls);
      if (record) out.push(record);
    }
    return out;
  }
  const [column] = columns;
  if (!cls && !manager.connection.hasMetadata(entity)) {
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `Entity ${JSON.stringify(entity)} is not part of this data source`, { entity });
  }
  const rows = await manager.findBy((cls ?? entity) as string, { [column]: In(ids.map((id) => id[column])) });
  const byKey = new Map(rows.map((r) => [String((r as ObjectLiteral)[column]), r as ObjectLiteral]));
  const out: ObjectLiteral[] = [];
  for (const id of ids) {
    const record = byKey.get(String(id[column]));
    if (record) out.push(record);
    else if (!allowMissing) throw new DeferralError('DEFER_ERR_RECORD_NOT_FOUND', `${entity} ${show(id)} no longer exists`, { entity, id });
  }
  return out;
}

/** An entity class already checked against the data source: TypeORM finds its metadata by a map lookup, a name by a scan of every entity. */
export type EntityClass = abstract new (...args: never[]) => unknown;

/** Loads one record by primary key; missing → DEFER_ERR_RECORD_NOT_FOUND unless `allowMissing`. */
export async function loadRecord(manager: EntityManager, entity: string, id: IdMap, allowMissing = false, cls?: EntityClass): Promise<ObjectLiteral | undefined> {
  if (!cls && !manager.connection.hasMetadata(entity)) {
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `Entity ${JSON.stringify(entity)} is not part of this data source`, { entity });
  }
  const record = await manager.findOneBy((cls ?? entity) as string, id);
  if (record) return record;
  if (allowMissing) return undefined;
  throw new DeferralError('DEFER_ERR_RECORD_NOT_FOUND', `${entity} ${show(id)} no longer exists`, { entity, id });
}

/** Copies a result into data: records and class instances become plain objects, functions are dropped. */
function resultToData(value: unknown, seen: object[]): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value !== 'object' || value === null) return value;
  if (PASS_THROUGH.some((C) => value instanceof C)) return value;
  if (seen.includes(value)) return undefined;
  seen.push(value);
  try {
    if (Array.isArray(value)) return value.map((v) => resultToData(v, seen));
    if (value instanceof Map) return new Map([...value].map(([k, v]) => [resultToData(k, seen), resultToData(v, seen)]));
    if (value instanceof Set) return new Set([...value].map((v) => resultToData(v, seen)));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'function' && typeof v !== 'symbol') out[k] = resultToData(v, seen);
    }
    return out;
  } finally {
    seen.pop();
  }
}

/** What a worker stores as the BullMQ return value. */
export interface EncodedResult {
  v: typeof PAYLOAD_VERSION;
  result: { json: unknown; meta?: unknown };
}

/** True for a value that is its own JSON, which superjson would pass through without meta. */
const plainJson = (value: unknown) => value === null || typeof value === 'string' || typeof value === 'boolean'
  || (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0));

/** Encodes a method's return value for storage in Redis. */
export function encodeResult(value: unknown): EncodedResult {
  if (plainJson(value)) return { v: PAYLOAD_VERSION, result: { json: value } };
  return { v: PAYLOAD_VERSION, result: codec.serialize(resultToData(value, [])) as EncodedResult['result'] };
}

/**
 * A value as plain JSON for people and HTTP clients: superjson's JSON half, so Dates become
 * ISO strings, Maps and Sets arrays, records in arguments `{ e: entity, id }`.
 */
export function toJsonView(value: unknown): unknown {
  return codec.serialize(resultToData(value, [])).json;
}

/** Decodes a stored return value; values written by raw BullMQ processors pass through as they are. */
export function decodeResult(stored: unknown): unknown {
  const r = stored as EncodedResult | undefined;
  if (r && typeof r === 'object' && r.v === PAYLOAD_VERSION && r.result && typeof r.result === 'object') {
    return codec.deserialize(r.result as Parameters<typeof codec.deserialize>[0]);
  }
  return stored;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIdMap = (v: unknown): v is IdMap =>
  isObj(v) && Object.keys(v).length > 0 && Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number');

/**
 * Checks job data written by anyone (including by hand in Redis) before the
 * worker trusts a single field of it. Throws DEFER_ERR_BAD_PAYLOAD saying what is wrong.
 */
export function parsePayload(data: unknown): CallPayload {
  const bad = (why: string) => new DeferralError('DEFER_ERR_BAD_PAYLOAD', `Bad payload: ${why}`, { why });
  const unreadable = unreadableData(data);
  if (unreadable !== undefined) throw bad(`job data in Redis is not JSON (${unreadable})`);
  if (!isObj(data)) throw bad(`job data is ${show(data)}, not an object`);
  if (data.v !== PAYLOAD_VERSION) throw bad(`payload version ${show(data.v)} is not supported by this worker (it reads version ${PAYLOAD_VERSION})`);
  if (typeof data.ds !== 'string' || !data.ds) throw bad('ds (data source name) must be a non-empty string');
  if (typeof data.method !== 'string' || !data.method) throw bad('method must be a non-empty string');
  if (typeof data.uid !== 'string' && !(typeof data.uid === 'number' && Number.isFinite(data.uid))) throw bad('uid must be a string or a number');
  if (!isObj(data.args) || !('json' in data.args)) throw bad('args must be superjson output { json, meta? }');
  const t = data.target;
  if (!isObj(t)) throw bad('target must be an object');
  if (t.kind === 'model' || t.kind === 'records') {
    if (typeof t.entity !== 'string' || !t.entity) throw bad('target.entity must be a non-empty string');
    if (t.kind === 'records' && !(Array.isArray(t.ids) && t.ids.length > 0 && t.ids.every(isIdMap)
      && typeof t.many === 'boolean' && (t.many || t.ids.length === 1))) {
      throw bad('target.ids must be a non-empty array of primary key maps, and target.many a boolean (true for several ids)');
    }
  } else if (t.kind === 'repository' || t.kind === 'task') {
    if (typeof t.name !== 'string' || !t.name) throw bad('target.name must be a non-empty string');
  } else {
    throw bad(`target.kind ${show(t.kind)} is not one of model, records, repository, task`);
  }
  const o = data.opts;
  if (!isObj(o) || typeof o.transaction !== 'boolean' || typeof o.skipMissing !== 'boolean'
    || (o.timeout !== undefined && !(typeof o.timeout === 'number' && Number.isFinite(o.timeout) && o.timeout > 0))) {
    throw bad('opts must be { transaction: boolean, skipMissing: boolean, timeout?: finite ms > 0 }');
  }
  return data as unknown as CallPayload;
}
