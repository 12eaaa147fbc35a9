import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The Redis the demo runs on. */
export interface RedisTarget {
  url: string;
  /** `env`: REDIS_URL; `local`: the default local server; `private`: a redis-server started for this run. */
  origin: 'env' | 'local' | 'private';
  /** The private redis-server's process id and temporary folder. */
  pid?: number;
  dir?: string;
  /** Stops the private redis-server and removes its folder; nothing for the other origins. Idempotent. */
  stop(): Promise<void>;
}

/** Why the demo has no Redis; `message` is meant for the user, as is. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** Answers with the error message when nothing answers PING at `url` within `timeoutMs`, else undefined. */
export async function ping(url: string, timeoutMs = 1_000): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The 'error' event says why (ECONNREFUSED…); the rejected connect() only says the connection closed.
  let lastError: Error | undefined;
  client.on('error', (err: Error) => { lastError ??= err; });
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    return answer === 'PONG' ? undefined : `unexpected answer to PING: ${String(answer)}`;
  } catch (err) {
    return (lastError ?? (err as Error)).message || String(err);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** The first executable called `name` on the PATH. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A TCP port nobody listens on right now (the tests' private servers use it too). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const NO_REDIS_HELP = [
  `No Redis answers at ${DEFAULT_REDIS_URL}, and there is no redis-server on the PATH to start a private one.`,
  'Either install Redis (6.2 or newer):',
  '    Debian/Ubuntu:  sudo apt-get install redis-server',
  '    macOS:          brew install redis',
  'or point the demo at a running one:',
  '    REDIS_URL=redis://host:6379 npm start',
].join('\n');

/** Starts `redis-server` on a free port in a temporary folder, and waits until it answers. */
export async function startPrivateRedis(binary: string): Promise<RedisTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'deferred-demo-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  // Its own process group: Ctrl-C in the terminal reaches the demo only, which then
  // closes its worker while Redis is still there, and stops Redis last.
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  child.once('error', (err) => { output += `\n${err.message}`; });

  // Last resort when the demo exits without stop() (uncaught error, process.exit, second Ctrl-C).
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exitedPromise;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  })());

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new RedisUnavailableError(`${binary} exited before it answered on port ${port}:\n${output.trim()}`);
    }
    if ((await ping(url, 500)) === undefined) break;
    if (Date.now() > deadline) {
      await stop();
      throw new RedisUnavailableError(`${binary} did not answer on port ${port} within 10 s:\n${output.trim()}`);
    }
    await sleep(50);
  }
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  child.stdout!.resume();
  child.stderr!.resume();
  return { url, origin: 'private', pid: child.pid, dir, stop };
}

/**
 * Finds a Redis for the demo:
 * 1. REDIS_URL when set (and only it: when the user names a server, no other is used);
 * 2. else redis://127.0.0.1:6379 when it answers;
 * 3. else a private redis-server, if one is on the PATH;
 * 4. else RedisUnavailableError saying how to get one.
 * `forcePrivate` skips 1 and 2 (DEMO_FORCE_PRIVATE_REDIS=1).
 */
export async function resolveRedis({ forcePrivate = false, env = process.env }: { forcePrivate?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RedisTarget> {
  const none = async () => undefined;
  if (!forcePrivate) {
    const fromEnv = env.REDIS_URL?.trim();
    if (fromEnv) {
      const problem = await ping(fromEnv, 2_000);
      if (problem) {
        throw new RedisUnavailableError([
          `Cannot reach Redis at REDIS_URL=${fromEnv} (${problem}).`,
          'Start that server, fix REDIS_URL, or unset REDIS_URL to let the demo use (or start) a local one.',
        ].join('\n'));
      }
      return { url: fromEnv, origin: 'env', stop: none };
    }
    if ((await ping(DEFAULT_REDIS_URL, 500)) === undefined) return { url: DEFAULT_REDIS_URL, origin: 'local', stop: none };
  }
  const binary = findOnPath('redis-server', env.PATH);
  if (!binary) throw new RedisUnavailableError(forcePrivate ? `DEMO_FORCE_PRIVATE_REDIS is set but there is no redis-server on the PATH.\n${NO_REDIS_HELP.split('\n').slice(1).join('\n')}` : NO_REDIS_HELP);
  return startPrivateRedis(binary);
}

/** Deletes every key under `prefix:` (the demo's own queues), so each run starts empty. */
export async function clearPrefix(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}
