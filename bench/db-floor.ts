/**
 * The floor under the "job table" drain: what one durable job costs the database alone, with the
 * driver (`pg`, `mysql2`) and no BullMQ, TypeORM query builder or typeorm-deferred code on the timed
 * path. Each variant is the per-job work of a hand-written worker or of ours, N transactions from
 * BENCH_FLOOR_CONCURRENCY loops on a pool of 10, repeated BENCH_FLOOR_REPS times, interleaved.
 * `npm run bench:floor`; BENCH_FLOOR_N (default 5000), BENCH_FLOOR_CONCURRENCY (default 10),
 * BENCH_FLOOR_REPS (default 5). MariaDB (MARIADB_URL) is skipped when it does not answer.
 */
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DeferredJobRecord } from '../src/index.js';
import { MARIADB_URL, oneLine, PG_URL } from './services.js';
import { fmtRate, fmtRatio, median, positiveInt, rotate, table, timeCalls } from './stats.js';

const N = positiveInt('BENCH_FLOOR_N', 5000);
const CONCURRENCY = positiveInt('BENCH_FLOOR_CONCURRENCY', 10);
const REPS = positiveInt('BENCH_FLOOR_REPS', 5);
/** As the main bench's data sources (poolSize 10). */
const POOL = 10;

/** A job row as ours writes it at enqueue: state pending, payload and options of a `noop` call's size. */
function jobRow(id: string): Record<string, unknown> {
  return {
    id, queue: 'default', model: 'BenchItem', method: 'noop', recordKeys: '|1|', uid: '42', state: 'pending',
    percent: 0, message: null, attempts: 0, result: null, error: null,
    payload: '{"v":1,"ds":"main","target":{"kind":"records","entity":"BenchItem","ids":[{"id":1}],"many":false},"method":"noop","uid":42,"args":{"json":[]},"opts":{"transaction":true,"skipMissing":false}}',
    jobOptions: '{"queue":"default","attempts":1,"removeOnComplete":{"count":1000},"removeOnFail":{"count":5000},"runAt":0}',
    createdAt: new Date().toISOString(), scheduledAt: null, startedAt: null, finishedAt: null, relayedAt: null,
  };
}
const COLUMNS = Object.keys(jobRow(''));
/** A new pending row's values, in the order of COLUMNS. */
const rowValues = (id: string) => Object.values(jobRow(id));
/** The states ours completes a row from (src/outbox/statements.ts). */
const OPEN_STATES = "'pending', 'relaying', 'queued', 'delayed', 'active', 'failed'";

/** Runs one statement on a transaction's connection; resolves the rows it affected. */
type Run = (sql: string, params?: unknown[]) => Promise<number>;

/** One database, reached through its driver alone. */
interface Side {
  name: string;
  /** `BEGIN`, the work, `COMMIT` on one pooled connection; `begin` replaces the `BEGIN` round trip. */
  tx(work: (run: Run) => Promise<void>, begin?: string): Promise<void>;
  /** Empties the job table and fills it with `n` pending rows in bulk, untimed; resolves their ids. */
  seed(n: number): Promise<string[]>;
  item: string;
  complete: string;
  insert: string;
  /** On PostgreSQL: a BEGIN that turns synchronous_commit off for the transaction, in the same round trip. */
  asyncBegin?: string;
  skipped?: string;
}

/** Creates the job table with TypeORM's own schema for DeferredJobRecord (its real indexes), then lets go of TypeORM. */
async function syncJobTable(options: DataSourceOptions): Promise<string> {
  const ds = new DataSource({ ...options, entities: [DeferredJobRecord], synchronize: true });
  await ds.initialize();
  try {
    const meta = ds.getMetadata(DeferredJobRecord);
    const real = meta.columns.map((c) => c.databaseName).sort().join();
    if (real !== [...COLUMNS].sort().join()) throw new Error(`job table columns are ${real}, the bench writes ${COLUMNS}`);
    return meta.tableName;
  } finally {
    await ds.destroy();
  }
}

/** The SQL of the variants, from a quoting function, a placeholder and the qualified table names. */
function statements(q: (name: string) => string, p: (i: number) => string, item: string, job: string) {
  const fields = ['result', 'message', 'attempts', 'startedAt', 'finishedAt'];
  return {
    item: `SELECT * FROM ${item} WHERE id = ${p(1)}`,
    // The completing UPDATE ours sends (src/outbox/statements.ts), with the same parameters.
    complete: `UPDATE ${job} SET ${q('state')} = 'completed', ${q('percent')} = 100, ${q('error')} = NULL, `
      + `${fields.map((f, i) => `${q(f)} = ${p(i + 1)}`).join(', ')} WHERE ${q('id')} = ${p(6)} AND ${q('state')} IN (${OPEN_STATES})`,
    insert: `INTO ${job} (${COLUMNS.map(q).join(', ')}) VALUES (${COLUMNS.map((_, i) => p(i + 1)).join(', ')})`,
  };
}

/** A bulk INSERT of `rows`, chunked to stay under the drivers' parameter limits. */
async function bulkInsert(rows: unknown[][], insertChunk: (chunk: unknown[][]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await insertChunk(rows.slice(i, i + 1000));
}

/** A connection taken from a pool, given back with release(). */
interface PooledConnection {
  query(text: string): Promise<unknown>;
  release(): void;
}

/** `begin`, the body, COMMIT (ROLLBACK when it throws), then the connection goes back to its pool. */
async function transaction(conn: PooledConnection, begin: string, body: () => Promise<void>): Promise<void> {
  try {
    await conn.query(begin);
    await body();
    await conn.query('COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

async function withPostgres(use: (side: Side, settings: string) => Promise<void>): Promise<void> {
  const schema = `bench_floor_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`).catch(async (err) => { await admin.end(); throw err; });
  const pool = new pg.Pool({ connectionString: PG_URL, max: POOL });
  try {
    const job = `${schema}."${await syncJobTable({ type: 'postgres', url: PG_URL, schema })}"`;
    const item = `${schema}.item`;
    await admin.query(`CREATE TABLE ${item} (id int PRIMARY KEY, name varchar(255)); INSERT INTO ${item} VALUES (1, 'bench')`);
    const settings: string[] = [];
    for (const s of ['fsync', 'synchronous_commit', 'wal_sync_method']) settings.push(`${s}=${(await admin.query(`SHOW ${s}`)).rows[0][s]}`);
    const version = (await admin.query('SHOW server_version')).rows[0].server_version as string;
    const sql = statements((n) => `"${n}"`, (i) => `$${i}`, item, job);
    const side: Side = {
      name: 'PostgreSQL', ...sql, insert: `INSERT ${sql.insert} ON CONFLICT DO NOTHING`,
      asyncBegin: 'BEGIN; SET LOCAL synchronous_commit = off',
      async tx(work, begin = 'BEGIN') {
        const client = await pool.connect();
        await transaction(client, begin, () => work(async (text, params) => (await client.query(text, params)).rowCount ?? 0));
      },
      async seed(n) {
        const ids = Array.from({ length: n }, () => randomUUID());
        await admin.query(`TRUNCATE ${job}`);
        await bulkInsert(ids.map(rowValues), (chunk) => admin.query(
          `INSERT INTO ${job} (${COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES ${chunk.map((_, r) => `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`).join(', ')}`,
          chunk.flat(),
        ));
        // Fresh statistics, so every run's UPDATE finds its row by the primary key alike.
        await admin.query(`ANALYZE ${job}`);
        return ids;
      },
    };
    await use(side, `PostgreSQL ${version}, schema ${schema}: ${settings.join(', ')}`);
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => admin.end());
  }
}

async function withMariadb(use: (side: Side, settings: string) => Promise<void>): Promise<void> {
  const url = new URL(MARIADB_URL);
  const server = { host: url.hostname || '127.0.0.1', port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), password: decodeURIComponent(url.password) };
  const database = `bench_floor_${randomBytes(6).toString('hex')}`;
  let admin: mysql.Connection | undefined;
  try {
    admin = await mysql.createConnection({ ...server, connectTimeout: 2_000 });
    await admin.query(`CREATE DATABASE ${database}`);
  } catch (err) {
    await admin?.end();
    console.log(`MariaDB at ${MARIADB_URL} is unreachable (${oneLine(err)}): skipped`);
    return;
  }
  const pool = mysql.createPool({ ...server, database, connectionLimit: POOL });
  try {
    const job = `\`${await syncJobTable({ type: 'mariadb', host: server.host, port: server.port, username: server.user, password: server.password, database })}\``;
    await admin.query(`CREATE TABLE ${database}.item (id int PRIMARY KEY, name varchar(255))`);
    await admin.query(`INSERT INTO ${database}.item VALUES (1, 'bench')`);
    const [[vars]] = await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@innodb_flush_log_at_trx_commit AS f, @@sync_binlog AS s, @@log_bin AS b');
    const sql = statements((n) => `\`${n}\``, () => '?', 'item', job);
    const side: Side = {
      name: 'MariaDB', ...sql, insert: `INSERT IGNORE ${sql.insert}`,
      skipped: 'innodb_flush_log_at_trx_commit is global, it cannot be set per session or transaction',
      async tx(work, begin = 'BEGIN') {
        const conn = await pool.getConnection();
        // `query`, not `execute`: TypeORM's mysql driver sends text queries too.
        await transaction(conn, begin, () => work(async (text, params) => ((await conn.query(text, params)) as unknown as [{ affectedRows?: number }])[0].affectedRows ?? 0));
      },
      async seed(n) {
        const ids = Array.from({ length: n }, () => randomUUID());
        await pool.query(`TRUNCATE ${job}`);
        await bulkInsert(ids.map(rowValues), (chunk) => pool.query(`INSERT INTO ${job} (${COLUMNS.map((c) => `\`${c}\``).join(', ')}) VALUES ?`, [chunk]));
        return ids;
      },
    };
    await use(side, `MariaDB ${vars.v}, database ${database}: innodb_flush_log_at_trx_commit=${vars.f}, sync_binlog=${vars.s}, log_bin=${vars.b}`);
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`).finally(() => admin!.end());
  }
}

/** One variant: what each of the N transactions does, given the ids of the pending rows when it writes. */
interface Variant {
  label: string;
  /** The variant its ratio is to. */
  base?: string;
  /** Refill the job table with N pending rows first: the rows the UPDATEs complete; for the INSERT, a table of the same size. */
  seeded?: boolean;
  job(side: Side): ((next: () => string) => Promise<void>) | string;
}

const READ = 'read-only transaction (the hand-written worker)';
const EMPTY = 'empty transaction (hand-written: BEGIN; COMMIT)';
const now = () => new Date().toISOString();
/** The UPDATE must hit its row, or the variant would measure less than ours does. */
const completeOne = async (side: Side, run: Run, id: string) => {
  const started = now();
  if ((await run(side.complete, ['null', null, 1, started, now(), id])) !== 1) throw new Error(`${side.name}: job row ${id} not completed`);
};

const VARIANTS: Variant[] = [
  { label: READ, job: (side) => () => side.tx(async (run) => { await run(side.item, [1]); }) },
  {
    label: '+ UPDATE of the job row (ours with the job table)', base: READ, seeded: true,
    job: (side) => (next) => side.tx(async (run) => { await run(side.item, [1]); await completeOne(side, run, next()); }),
  },
  {
    label: 'same as 2, synchronous_commit = off (SET LOCAL)', base: READ, seeded: true,
    job: (side) => side.skipped ?? ((next) => side.tx(async (run) => { await run(side.item, [1]); await completeOne(side, run, next()); }, side.asyncBegin)),
  },
  {
    label: 'INSERT of a job row in its own transaction (ours: enqueue in a transaction)', base: EMPTY, seeded: true,
    job: (side) => () => side.tx(async (run) => { await run(side.insert, rowValues(randomUUID())); }),
  },
  { label: EMPTY, job: (side) => () => side.tx(async () => undefined) },
];

async function measure(side: Side, settings: string): Promise<void> {
  console.log(`\n${settings}`);
  // Warm-up: the pool's connections opened and the statements planned before anything is timed.
  await timeCalls(Math.min(N, 500), CONCURRENCY, () => side.tx(async (run) => { await run(side.item, [1]); }));
  const rates = new Map<string, number[]>(VARIANTS.map((v) => [v.label, []]));
  for (let rep = 0; rep < REPS; rep++) {
    // Interleaved, each variant first in turn, so drift in the machine's load falls on all alike.
    for (const variant of rotate(VARIANTS, rep)) {
      const job = variant.job(side);
      if (typeof job === 'string') continue;
      const ids = variant.seeded ? await side.seed(N) : [];
      let taken = 0;
      const ms = await timeCalls(N, CONCURRENCY, () => job(() => ids[taken++]));
      rates.get(variant.label)!.push((N * 1000) / ms);
      console.error(`  ${side.name} rep ${rep + 1}/${REPS}: ${variant.label}: ${fmtRate((N * 1000) / ms)} tx/s`);
    }
  }
  const rate = (label: string) => median(rates.get(label)!);
  const skipped: string[] = [];
  console.log(table(['variant', 'transactions/s (median)', 'ratio'], VARIANTS.map((v, i) => {
    const job = v.job(side);
    if (typeof job === 'string') {
      skipped.push(`${i + 1}. skipped on ${side.name}: ${job}`);
      return [`${i + 1}. ${v.label}`, 'skipped', ''];
    }
    return [`${i + 1}. ${v.label}`, fmtRate(rate(v.label)), v.base ? `${fmtRatio(rate(v.label) / rate(v.base))} of ${VARIANTS.findIndex((b) => b.label === v.base) + 1}` : ''];
  })));
  for (const line of skipped) console.log(line);
}

async function main(): Promise<void> {
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`DB floor: N=${N} transactions per run, ${CONCURRENCY} loops on a pool of ${POOL}, ${REPS} interleaved repetitions; ${os.cpus().length} CPUs, load average at start ${load()}`);
  await withPostgres(measure);
  await withMariadb(measure);
  console.log(`\nload average at end ${load()}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
