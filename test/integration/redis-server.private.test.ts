// The private redis-server some tests start: a missing binary is named with its package,
// for the tests (test/redis-server.ts) and for the demo (examples/demo/redis.ts) alike.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRedis } from '../../examples/demo/redis.js';
import { redisServerBinary, startPrivateRedis } from '../redis-server.js';

const empty = mkdtempSync(join(tmpdir(), 'deferred-empty-path-'));
const dataDir = mkdtempSync(join(tmpdir(), 'deferred-private-redis-'));

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

describe('a private redis-server', () => {
  afterAll(() => {
    rmSync(empty, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is found on the PATH', () => {
    expect(redisServerBinary()).toMatch(/\/redis-server$/);
  });

  it('missing from the PATH: the error names the binary and the package to install', async () => {
    expect(() => redisServerBinary(empty)).toThrow(/^redis-server is not installed \(apt-get install redis-server\)/);
    const path = process.env.PATH;
    process.env.PATH = empty;
    try {
      await expect(startPrivateRedis(await freePort(), dataDir)).rejects.toThrow(/^redis-server is not installed \(apt-get install redis-server\)/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('starts, answers, and is gone once killed', async () => {
    const port = await freePort();
    const server = await startPrivateRedis(port, dataDir);
    const client = new Redis(`redis://127.0.0.1:${port}`);
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
    expect(server.exitCode ?? server.signalCode).toBe('SIGKILL');
  });

  it("the demo's own message says so too, with the package", async () => {
    const found = resolveRedis({ forcePrivate: true, env: { PATH: empty } });
    await expect(found).rejects.toThrow(/no redis-server on the PATH/);
    await expect(found).rejects.toThrow(/sudo apt-get install redis-server/);
  });
});
