import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { closeDeferred, configure, startWorker, type DeferredConfig, type DeferredWorker, type WorkerOptions } from '../src/index.js';
import { ENTITIES } from './fixtures/entities.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export type DbKind = 'sqlite' | 'postgres';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres'];

/** A queue prefix no other test uses. */
export const uniquePrefix = () => `t${randomUUID().slice(0, 8)}`;

/** A data source of the given kind on its own database (SQLite in memory) or schema (PostgreSQL). */
export async function makeDataSource(kind: DbKind, entities: DataSourceOptions['entities'] = ENTITIES): Promise<{ dataSource: DataSource; drop(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, synchronize: true });
    await dataSource.initialize();
    return { dataSource, drop: async () => { if (dataSource.isInitialized) await dataSource.destroy(); } };
  }
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const dataSource = new DataSource({ type: 'postgres', url: PG_URL, schema, entities, synchronize: true, poolSize: 5 });
  await dataSource.initialize();
  return {
    dataSource,
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
export async function setup(kind: DbKind, extra: Partial<DeferredConfig> = {}, worker: WorkerOptions | false = {}): Promise<Harness> {
  const baseline = openSockets();
  const { dataSource, drop } = await makeDataSource(kind);
  const prefix = uniquePrefix();
  configure({ connection: REDIS_URL, prefix, dataSources: { main: dataSource }, ...extra });
  const workers: DeferredWorker[] = [];
  const closables: Array<{ close(): Promise<unknown> }> = [];
  const h: Harness = {
    dataSource,
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
