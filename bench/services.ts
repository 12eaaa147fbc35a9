import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { BenchItem } from './entities.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
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
  dataSource: DataSource;
  record: BenchItem;
  version: string;
  close(): Promise<void>;
}

/** better-sqlite3 in memory. */
export async function openSqlite(): Promise<BenchDb> {
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [BenchItem], synchronize: true });
  await dataSource.initialize();
  const record = await dataSource.manager.save(dataSource.manager.create(BenchItem, { name: 'bench' }));
  const [{ v }] = await dataSource.query('SELECT sqlite_version() AS v');
  return {
    kind: 'SQLite', dataSource, record, version: `SQLite ${v} (better-sqlite3, in memory)`,
    close: async () => { if (dataSource.isInitialized) await dataSource.destroy(); },
  };
}

/** PostgreSQL on a schema of its own, created here and dropped by close(). */
export async function openPostgres(poolSize = 10): Promise<BenchDb> {
  const schema = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const dataSource = new DataSource({ type: 'postgres', url: PG_URL, schema, entities: [BenchItem], synchronize: true, poolSize });
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
      kind: 'PostgreSQL', dataSource, record, version: `PostgreSQL ${v} (schema ${schema}, poolSize ${poolSize})`,
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
