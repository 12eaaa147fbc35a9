import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DataSource, type Logger } from 'typeorm';
import { DeferredJobRecord } from '../src/index.js';
import { BenchItem } from './entities.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** `configure()` options every scenario adds: BENCH_METRICS=off turns the library's Prometheus metrics off, to measure what they cost. */
export const LIBRARY_OPTIONS = process.env.BENCH_METRICS === 'off' ? { metrics: false as const } : {};
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** As the tests read it (test/helpers.ts): the server only; the bench makes a database of its own there. */
export const MARIADB_URL = process.env.MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';

/** A client the bench owns; `worker` clients must not retry requests (BullMQ blocks on them). */
export function openRedis(role: 'producer' | 'worker' = 'producer'): Redis {
  const client = new Redis(REDIS_URL, role === 'worker' ? { maxRetriesPerRequest: null } : {});
  client.on('error', () => undefined);
  return client;
}

/** Deletes every key matching `pattern` with SCAN + DEL; returns how many there were. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** A data source with one saved BenchItem, and how to get rid of both. */
export interface BenchDb {
  kind: 'SQLite' | 'PostgreSQL' | 'MariaDB';
  /** True when DeferredJobRecord is among its entities: every job deferred on it gets a row. */
  jobTable: boolean;
  dataSource: DataSource;
  record: BenchItem;
  version: string;
  close(): Promise<void>;
}

/** How to open a bench data source. */
export interface BenchDbOptions {
  /** Add DeferredJobRecord to the entities (the job table, transactional outbox). @defaultValue `false` */
  jobTable?: boolean;
  /** A TypeORM logger that sees every statement (bench/counts.ts counts them). */
  logger?: Logger;
}

const entitiesFor = (o: BenchDbOptions) => (o.jobTable ? [BenchItem, DeferredJobRecord] : [BenchItem]);
const withTable = (o: BenchDbOptions) => (o.jobTable ? ', with the job table' : '');
/** TypeORM 1.x hands a custom logger every statement; `logging: true` so that holds whatever the default. */
const loggingFor = (o: BenchDbOptions) => (o.logger ? { logging: true as const, logger: o.logger } : {});

/** A short name of the data source's kind, for key prefixes. */
export const shortKind = (db: BenchDb) => ({ SQLite: 'sqlite', PostgreSQL: 'pg', MariaDB: 'maria' })[db.kind];

/** better-sqlite3 in memory. */
export async function openSqlite(options: BenchDbOptions = {}): Promise<BenchDb> {
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: entitiesFor(options), synchronize: true, ...loggingFor(options) });
  await dataSource.initialize();
  const record = await dataSource.manager.save(dataSource.manager.create(BenchItem, { name: 'bench' }));
  const [{ v }] = await dataSource.query('SELECT sqlite_version() AS v');
  return {
    kind: 'SQLite', jobTable: options.jobTable ?? false, dataSource, record, version: `SQLite ${v} (better-sqlite3, in memory${withTable(options)})`,
    close: async () => { if (dataSource.isInitialized) await dataSource.destroy(); },
  };
}

/** PostgreSQL on a schema of its own, created here and dropped by close(). */
export async function openPostgres(poolSize = 10, options: BenchDbOptions = {}): Promise<BenchDb> {
  const schema = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const dataSource = new DataSource({ type: 'postgres', url: PG_URL, schema, entities: entitiesFor(options), synchronize: true, poolSize, ...loggingFor(options) });
  const dropSchema = async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await c.end();
    }
  };
  return openServerDb('PostgreSQL', dataSource, "SELECT current_setting('server_version') AS v", (v) => `PostgreSQL ${v} (schema ${schema}, poolSize ${poolSize}${withTable(options)})`, dropSchema, options);
}

/**
 * Opens a data source on a database or schema of its own and saves the bench's record; closing (or
 * a failure here) destroys it and drops what `drop` drops.
 */
async function openServerDb(kind: BenchDb['kind'], dataSource: DataSource, versionSql: string, label: (version: string) => string, drop: () => Promise<unknown>, options: BenchDbOptions): Promise<BenchDb> {
  const close = async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
    await drop();
  };
  try {
    await dataSource.initialize();
    const record = await dataSource.manager.save(dataSource.manager.create(BenchItem, { name: 'bench' }));
    const [{ v }] = await dataSource.query(versionSql);
    return { kind, jobTable: options.jobTable ?? false, dataSource, record, version: label(v), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Host, port and credentials of MARIADB_URL (a database in it is ignored); the tests read it too. */
export function mariadbServer(): { host: string; port: number; user: string; password: string } {
  const url = new URL(MARIADB_URL);
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
  };
}

/** Runs one statement on a short-lived connection outside any database; fails within 2 s when the server does not answer. */
async function mariadbAdmin(sql: string): Promise<void> {
  const c = await mysql.createConnection({ ...mariadbServer(), connectTimeout: 2_000 });
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** MariaDB on a database of its own, created here and dropped by close(). */
export async function openMariadb(options: BenchDbOptions = {}, poolSize = 10): Promise<BenchDb> {
  const database = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const { host, port, user, password } = mariadbServer();
  await mariadbAdmin(`CREATE DATABASE ${database}`);
  const dataSource = new DataSource({
    type: 'mariadb', host, port, username: user, password, database, entities: entitiesFor(options), synchronize: true, poolSize, ...loggingFor(options),
  });
  const dropDatabase = () => mariadbAdmin(`DROP DATABASE IF EXISTS ${database}`);
  return openServerDb('MariaDB', dataSource, 'SELECT VERSION() AS v', (v) => `MariaDB ${v} (database ${database}, poolSize ${poolSize}${withTable(options)})`, dropDatabase, options);
}

/** An error as one short line: its code and the first line of its message. */
export function oneLine(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = (e?.message || String(err)).split('\n')[0];
  return e?.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
