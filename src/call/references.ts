import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { EntityRef, type IdMap } from './call.js';
import { DeferralError } from '../errors.js';
import { MAX_ARG_DEPTH } from '../limits.js';
import { show } from '../options.js';

// A worker follows a record reference only when it is exactly a primary key with values of the
// column types: `{}` or a key on another column would make TypeORM load *some* record.

const INTEGER_TYPES = new Set(['int', 'integer', 'int2', 'int4', 'smallint', 'mediumint', 'tinyint', 'unsigned big int']);
const BIG_INTEGER_TYPES = new Set(['bigint', 'int8', 'int64']);
const DECIMAL_TYPES = new Set(['decimal', 'numeric', 'dec', 'number', 'float', 'float4', 'float8', 'double', 'double precision', 'real']);
const STRING_TYPES = new Set(['varchar', 'character varying', 'char', 'character', 'nvarchar', 'nchar', 'national varchar', 'text', 'tinytext', 'mediumtext', 'longtext', 'string', 'citext', 'varchar2', 'nvarchar2']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER_TEXT = /^-?\d{1,20}$/;
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

function bad(why: string, details: Record<string, unknown>): DeferralError {
  return new DeferralError('DEFER_ERR_BAD_PAYLOAD', `Bad payload: ${why}`, { why, ...details });
}

/** What a key value of this column must be, or undefined when it is fine. */
function valueProblem(column: ColumnMetadata, value: string | number): string | undefined {
  const type = typeof column.type === 'string' ? column.type.toLowerCase() : column.type === Number ? 'number' : column.type === String ? 'string' : '';
  const generatedInteger = column.generationStrategy === 'increment' || column.generationStrategy === 'rowid';
  if (type === 'uuid' || column.generationStrategy === 'uuid') {
    return typeof value === 'string' && UUID.test(value) ? undefined : 'a UUID string';
  }
  if (INTEGER_TYPES.has(type) || (type === 'number' && generatedInteger)) {
    return Number.isSafeInteger(value) ? undefined : 'a whole number';
  }
  if (BIG_INTEGER_TYPES.has(type)) {
    return Number.isSafeInteger(value) || (typeof value === 'string' && INTEGER_TEXT.test(value)) ? undefined : 'a whole number, or its digits as a string';
  }
  if (DECIMAL_TYPES.has(type)) {
    return (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && DECIMAL_TEXT.test(value)) ? undefined : 'a number';
  }
  if (STRING_TYPES.has(type)) {
    if (typeof value !== 'string') return 'a string';
    const length = Number(column.length || Infinity);
    if (value.length > length) return `a string of at most ${length} characters`;
  }
  if (typeof value === 'string' && value.includes('\u0000')) return 'a string without NUL characters';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a finite number';
  return undefined;
}

/**
 * Checks that `id` names exactly the primary key columns of `metadata`, each with a value of its
 * column's type, before any query uses it. Throws DEFER_ERR_BAD_PAYLOAD saying what is wrong.
 */
export function checkRecordKey(metadata: EntityMetadata, id: unknown, where: string): IdMap {
  const expected = metadata.primaryColumns.map((c) => c.propertyName);
  const isMap = typeof id === 'object' && id !== null && !Array.isArray(id) && Object.getPrototypeOf(id) === Object.prototype;
  const keys = isMap ? Object.keys(id) : [];
  if (!isMap || keys.length !== expected.length || !expected.every((k) => keys.includes(k))) {
    throw bad(`${where} is ${show(id)}, not a primary key of ${metadata.name} (its key is ${expected.join(', ')})`, { entity: metadata.name, where });
  }
  for (const column of metadata.primaryColumns) {
    const value = (id as Record<string, unknown>)[column.propertyName];
    const problem = typeof value === 'string' || typeof value === 'number' ? valueProblem(column, value) : 'a string or a number';
    if (problem) throw bad(`${where}.${column.propertyName} is ${show(value)}; ${metadata.name}.${column.propertyName} takes ${problem}`, { entity: metadata.name, where });
  }
  return id as IdMap;
}

/** The metadata of an entity a payload names, or DEFER_ERR_UNKNOWN_MODEL. */
export function entityMetadata(dataSource: DataSource, entity: string, where: string): EntityMetadata {
  if (typeof entity === 'string' && dataSource.hasMetadata(entity)) return dataSource.getMetadata(entity);
  throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `${where} names ${show(entity)}, which is not an entity of this data source`, { entity, where });
}

/**
 * Checks decoded arguments before the worker follows any reference in them: every record
 * reference is an entity of the data source with exactly its primary key.
 */
export function checkArgs(value: unknown, dataSource: DataSource, path: string, depth = 0): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_ARG_DEPTH + 1) throw bad(`${path} nests deeper than ${MAX_ARG_DEPTH} levels`, { path });
  if (value instanceof EntityRef) {
    checkRecordKey(entityMetadata(dataSource, value.entity, path), value.id, `${path}.id`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkArgs(v, dataSource, `${path}[${i}]`, depth + 1));
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      checkArgs(k, dataSource, `${path}.keys()`, depth + 1);
      checkArgs(v, dataSource, `${path}.get(${show(k)})`, depth + 1);
    }
  } else if (value instanceof Set) {
    for (const v of value) checkArgs(v, dataSource, `${path}.values()`, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) checkArgs(v, dataSource, `${path}.${k}`, depth + 1);
  }
}
