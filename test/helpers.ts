import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { closeDeferred, configure, startWorker, type DeferredConfig, type DeferredWorker, type WorkerOptions } from '../src/index.js';
import { ENTITIES } from './fixtures/entities.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export { MARIADB_URL, mariadbServer } from '../bench/services.js';
import { mariadbServer } from '../bench/services.js';
export type DbKind = 'sqlite' | 'postgres' | 'mariadb';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres'];
/** Every kind, MariaDB included: for tests that opt in to it. */
export const ALL_DB_KINDS: DbKind[] = ['sqlite', 'postgres', 'mariadb'];

/** A queue prefix no other test uses. */
export const uniquePrefix = () => `t${randomUUID().slice(0, 8)}`;

/** Runs one statement on a short-lived connection to the MariaDB server, outside any database. */
async function mariadbAdmin(sql: string): Promise<void> {
  const c = await mysql.createConnection(mariadbServer());
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A data source of the given kind on its own database (SQLite in memory, MariaDB) or schema (PostgreSQL). */
export interface TestDataSource {
  dataSource: DataSource;
  /** How to open the same database again (another DataSource, another process); no entities. */
  options: DataSourceOptions;
  drop(): Promise<void>;
}

/**
 * A data source of the given kind on its own database (SQLite in memory, or in a temporary
 * file with `sqliteFile`; a MariaDB database) or schema (PostgreSQL).
 */
export async function makeDataSource(kind: DbKind, entities: DataSourceOptions['entities'] = ENTITIES, { sqliteFile = false } = {}): Promise<TestDataSource> {
  if (kind === 'sqlite') {
    const dir = sqliteFile ? mkdtempSync(join(tmpdir(), 'deferred-test-')) : undefined;
    const options: DataSourceOptions = { type: 'better-sqlite3', database: dir ? join(dir, 'db.sqlite') : ':memory:', timeout: 5_000 };
    const dataSource = new DataSource({ ...options, entities, synchronize: true });
    await dataSource.initialize();
    return {
      dataSource,
      options,
      async drop() {
        if (dataSource.isInitialized) await dataSource.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (kind === 'mariadb') {
    const database = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const { host, port, user, password } = mariadbServer();
    await mariadbAdmin(`CREATE DATABASE ${database}`);
    const options: DataSourceOptions = { type: 'mariadb', host, port, username: user, password, database, poolSize: 5 };
    const dataSource = new DataSource({ ...options, entities, synchronize: true });
    try {
      await dataSource.initialize();
    } catch (err) {
      await mariadbAdmin(`DROP DATABASE IF EXISTS ${database}`);
      throw err;
    }
    return {
      dataSource,
      options,
      async drop() {
        if (dataSource.isInitialized) await dataSource.destroy();
        await mariadbAdmin(`DROP DATABASE IF EXISTS ${database}`);
      },
    };
  }
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const options: DataSourceOptions = { type: 'postgres', url: PG_URL, schema, poolSize: 5 };
  const dataSource = new DataSource({ ...options, entities, synchronize: true });
  await dataSource.initialize();
  return {
    dataSource,
    options,
    async drop() {
      if (dataSource.isInitialized) await dataSource.destroy();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** Deletes every Redis key under a prefix. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface Harness {
  dataSource: DataSource;
  /** The data source's connection options (see makeDataSource). */
  options: DataSourceOptions;
  prefix: string;
  worker?: DeferredWorker;
  startWorker(options?: WorkerOptions): Promise<DeferredWorker>;
  /** Something the test opened (a fastify app…) that cleanup() closes first. */
  closeWith<T extends { close(): Promise<unknown> }>(closable: T): T;
  cleanup(): Promise<void>;
}

const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

/** Fails when the sockets opened since `baseline` are not all closed within a second (a leaked client or worker). */
export async function expectNoLeakedSockets(baseline: number): Promise<void> {
  for (let i = 0; i < 50 && openSockets() > baseline; i++) await new Promise((r) => setTimeout(r, 20));
  if (openSockets() > baseline) throw new Error(`leak: ${openSockets() - baseline} socket(s) still open after cleanup`);
}

/** Configures the library for one test: its own prefix, data source and (optionally) worker. */
export async function setup(kind: DbKind, extra: Partial<DeferredConfig> = {}, worker: WorkerOptions | false = {}, db: { entities?: DataSourceOptions['entities']; sqliteFile?: boolean } = {}): Promise<Harness> {
  const baseline = openSockets();
  const { dataSource, drop, options } = await makeDataSource(kind, db.entities ?? ENTITIES, { sqliteFile: db.sqliteFile });
  const prefix = uniquePrefix();
  configure({ connection: REDIS_URL, prefix, dataSources: { main: dataSource }, ...extra });
  const workers: DeferredWorker[] = [];
  const closables: Array<{ close(): Promise<unknown> }> = [];
  const h: Harness = {
    dataSource,
    options,
    prefix,
    async startWorker(options = {}) {
      const w = await startWorker({ shutdownTimeoutMs: 5_000, ...options });
      workers.push(w);
      return w;
    },
    closeWith(closable) {
      closables.push(closable);
      return closable;
    },
    async cleanup() {
      await Promise.allSettled(closables.map((c) => c.close()));
      await Promise.allSettled(workers.map((w) => w.close()));
      await closeDeferred();
      await deleteKeys(prefix);
      await drop();
      await expectNoLeakedSockets(baseline);
    },
  };
  if (worker !== false) h.worker = await h.startWorker(worker);
  return h;
}
