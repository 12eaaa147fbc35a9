import { spawn, type ChildProcess } from 'node:child_process';
import type { DataSourceOptions } from 'typeorm';

/** A worker process started from `dist/test/fixtures/worker-child.js`, which a test may SIGKILL. */
export interface ChildWorker {
  child: ChildProcess;
  /** Resolves once the worker consumes its queue. */
  ready: Promise<void>;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** What it wrote to stderr. */
  stderr(): string;
}

/** Starts a worker process on the given database (options as `makeDataSource` returns them), Redis and prefix. */
export function spawnWorker(db: DataSourceOptions, redisUrl: string, prefix: string, concurrency = 2): ChildWorker {
  const child = spawn(process.execPath, ['dist/test/fixtures/worker-child.js'], {
    env: { ...process.env, CHILD_DB_OPTIONS: JSON.stringify(db), CHILD_REDIS_URL: redisUrl, CHILD_PREFIX: prefix, CHILD_CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    void exited.then(() => reject(new Error(`worker process exited before it was ready: ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, stderr: () => err };
}

/** SIGKILLs the process (only one this test started) and waits until it is gone. */
export async function killHard(w: ChildWorker): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await w.exited;
}
