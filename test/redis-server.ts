// A private redis-server for the tests that stop Redis or must not touch the shared one:
// a clear error when the binary is missing, instead of a bare spawn ENOENT or a timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
export { freePort } from '../examples/demo/redis.js';
import { delimiter, join } from 'node:path';

/** The redis-server on the PATH; throws naming the binary and its package when there is none. */
export function redisServerBinary(path = process.env.PATH ?? ''): string {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'redis-server'), constants.X_OK);
      return join(dir, 'redis-server');
    } catch {
      // not in this folder
    }
  }
  throw new Error('redis-server is not installed (apt-get install redis-server): this test starts a private Redis and found no redis-server on the PATH');
}

/** Whether a Redis on 127.0.0.1:`port` answers PING. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (up: boolean) => { socket.destroy(); resolve(up); };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => { reply += chunk.toString(); if (reply.includes('\r\n')) done(reply.startsWith('+PONG')); });
    socket.on('error', () => done(false));
  });
}

/** Starts redis-server on 127.0.0.1:`port` keeping nothing on disk (files in `dir`), and waits until it answers. */
export async function startPrivateRedis(port: number, dir: string, extraArgs: string[] = []): Promise<ChildProcess> {
  const server = spawn(redisServerBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-2_000); };
  server.stdout!.on('data', keep);
  server.stderr!.on('data', keep);
  let exit: string | undefined;
  server.once('exit', (code, signal) => { exit = `exited (${signal ?? code})`; });
  server.once('error', (err) => { exit = err.message; });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exit) throw new Error(`redis-server on port ${port} ${exit} before it answered:\n${output.trim()}`);
    if (await answers(port)) return server;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  server.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within 10 s:\n${output.trim()}`);
}
