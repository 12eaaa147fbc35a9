import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll } from 'vitest';
import { closeDeferred, configure } from '../../src/index.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers.js';

// Helpers of the CLI tests (not a test file): run the compiled CLI as a user's shell would.
export const CLI = 'dist/src/cli.js';
export const CONFIG = 'dist/test/fixtures/cli-config.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `deferred …` to its end; resolves its exit code and output whatever the code. */
export function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : child.exitCode) : 0, stdout, stderr });
    });
  });
}

/** A long-running `deferred …` (worker, dashboard, status --follow) and what it has printed so far. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  /** Waits until stdout matches, failing with the output if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  async function waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(out);
      if (m) return m;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} in the output of deferred ${args.join(' ')}:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { child, out: () => out, err: () => err, exited, waitFor };
}

/**
 * The exit code of `p`, which ends once `helper` (a worker) did its part: a helper that exits
 * first (it crashed) fails the test with its output instead of leaving it waiting.
 */
export function exitCodeWhile(p: CliProcess, helper: CliProcess): Promise<number | null> {
  const crashed = helper.exited.then((code) => {
    throw new Error(`the helper process exited (${code}) first:\n${helper.out()}\n${helper.err()}`);
  });
  crashed.catch(() => undefined);
  return Promise.race([p.exited, crashed]);
}

/** Every stdout line as JSON (the test fails on a line that is not). */
export function jsonLines(text: string): Array<Record<string, any>> {
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
}

/** No line looks like a stack frame. */
export const NO_STACK = /^\s+at /m;

/** What the CLI's config module (test/fixtures/cli-config.ts) reads from the environment, and the same data source in this process. */
export interface CliDatabase {
  env: NodeJS.ProcessEnv;
  prefix: string;
  /** The SQLite data source of the config module, open in this process (set in beforeAll). */
  ds: DataSource;
  account(name: string): Promise<Account>;
}

/** A prefix, a SQLite file and this process configured on them, for the tests of the enclosing describe. */
export function cliDatabase(): CliDatabase {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'deferred-cli-'));
  const db: CliDatabase = {
    env: { ...process.env, REDIS_URL, DEFERRED_PREFIX: prefix, DEFERRED_SQLITE: join(dir, 'db.sqlite') },
    prefix,
    ds: undefined as unknown as DataSource,
    account: (name) => db.ds.manager.save(db.ds.manager.create(Account, { name, balance: 0, note: null })),
  };
  beforeAll(async () => {
    db.ds = new DataSource({ type: 'better-sqlite3', database: db.env.DEFERRED_SQLITE!, entities: ENTITIES, synchronize: true });
    await db.ds.initialize();
    configure({ connection: REDIS_URL, prefix, dataSources: { main: db.ds } });
  });
  afterAll(async () => {
    await closeDeferred();
    await db.ds.destroy();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}
