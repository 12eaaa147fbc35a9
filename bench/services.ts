import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { DeferredJobRecord } from '../src/index.js';
import { BenchItem } from './entities.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** `configure()` options every scenario adds: BENCH_METRICS=off turns the library's Prometheus metrics off, to measure what they cost. */
export const LIBRARY_OPTIONS = process.env.BENCH_METRICS === 'off' ? { metrics: false as const } : {};
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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
  kind: 'SQLite' | 'PostgreSQL';
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
}

const entitiesFor = (o: BenchDbOptions) => (o.jobTable ? [BenchItem, DeferredJobRecord] : [BenchItem]);
const withTable = (o: BenchDbOptions) => (o.jobTable ? ', with the job table' : '');

/** better-sqlite3 in memory. */
export async function openSqlite(options: BenchDbOptions = {}): Promise<BenchDb> {
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: entitiesFor(options), synchronize: true });
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
  const dataSource = new DataSource({ type: 'postgres', url: PG_URL, schema, entities: entitiesFor(options), synchronize: true, poolSize });
  const dropSchema = async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await c.end();
    }
  };
  try {
    await dataSource.initialize();
    const record = await dataSource.manager.save(dataSource.manager.create(BenchItem, { name: 'bench' }));
    const [{ v }] = await dataSource.query("SELECT current_setting('server_version') AS v");
    return {
      kind: 'PostgreSQL', jobTable: options.jobTable ?? false, dataSource, record, version: `PostgreSQL ${v} (schema ${schema}, poolSize ${poolSize}${withTable(options)})`,
      async close() {
        if (dataSource.isInitialized) await dataSource.destroy();
        await dropSchema();
      },
    };
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await dropSchema();
    throw err;
  }
}
