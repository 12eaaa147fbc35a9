import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeferred, configure, Deferred } from '../../src/index.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers.js';

const run = promisify(execFile);
const CLI = 'dist/src/cli.js';
const CONFIG = 'dist/test/fixtures/cli-config.js';

describe('the deferred CLI', () => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'deferred-cli-'));
  const env = { ...process.env, REDIS_URL, DEFERRED_PREFIX: prefix, DEFERRED_SQLITE: join(dir, 'db.sqlite') };
  let ds: DataSource;

  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: env.DEFERRED_SQLITE, entities: ENTITIES, synchronize: true });
    await ds.initialize();
    configure({ connection: REDIS_URL, prefix, dataSources: { main: ds } });
  });
  afterAll(async () => {
    await closeDeferred();
    await ds.destroy();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('worker runs jobs and, on SIGTERM, lets the active job finish and exits 0', async () => {
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'cli', balance: 0, note: null }));
    const quick = await Deferred(a, ds, 1, 'deposit', 3);
    const slow = await Deferred(a, ds, 1, 'wait', 1_500);
    const child = spawn(process.execPath, [CLI, 'worker', '--config', CONFIG, '--queues', 'high=1,default=2,low=0'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    expect(await quick.result({ timeoutMs: 15_000 })).toBe(3);
    while ((await slow.state()) !== 'active') await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await slow.state()).toBe('completed');
    expect(await slow.result()).toBe('waited');
    expect(out).toContain('consuming high=1 default=2');
    expect(out).toContain('SIGTERM');
  });

  it('status prints state, progress and result; --json is machine-readable; an unknown id exits 1', async () => {
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'st', balance: 0, note: null }));
    const job = await Deferred(a, ds, 'bob', 'deposit', 9);
    const w = spawn(process.execPath, [CLI, 'worker', '--config', CONFIG, '--quiet'], { env });
    await job.result({ timeoutMs: 15_000 });
    w.kill('SIGTERM');
    const text = await run(process.execPath, [CLI, 'status', job.id, '--prefix', prefix], { env });
    expect(text.stdout).toMatch(/state\s+completed/);
    expect(text.stdout).toMatch(/name\s+Account\.deposit/);
    expect(text.stdout).toMatch(/result\s+9/);
    const json = JSON.parse((await run(process.execPath, [CLI, 'status', job.id, '--config', CONFIG, '--json'], { env })).stdout);
    expect(json).toMatchObject({ id: job.id, queue: 'default', state: 'completed', result: 9, uid: 'bob', percent: 100 });
    const unknown = await run(process.execPath, [CLI, 'status', 'nope', '--prefix', prefix], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(unknown).toMatchObject({ code: 1 });
    expect((unknown as { stderr: string }).stderr).toContain('No job nope');
  });

  it('status shows the error of a failed job with its code', async () => {
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'gone', balance: 0, note: null }));
    const job = await Deferred(a, ds, 1, 'depositThenFail', 1, 'boom');
    const w = spawn(process.execPath, [CLI, 'worker', '--config', CONFIG, '--quiet'], { env });
    await job.result({ timeoutMs: 15_000 }).catch(() => undefined);
    w.kill('SIGTERM');
    const { stdout } = await run(process.execPath, [CLI, 'status', job.id, '--prefix', prefix], { env });
    expect(stdout).toMatch(/state\s+failed/);
    expect(stdout).toContain('error     boom');
  });

  it('dashboard serves bull-board and the job API behind a generated admin login, and exits 0 on SIGTERM', async () => {
    const a = await ds.manager.save(ds.manager.create(Account, { name: 'dash', balance: 0, note: null }));
    const job = await Deferred(a, ds, 'carol', 'deposit', 4);
    const child = spawn(process.execPath, [CLI, 'dashboard', '--config', CONFIG, '--port', '0'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!/log in as admin \/ \S+/.test(out)) {
      if (child.exitCode !== null) throw new Error(out);
      await new Promise((r) => setTimeout(r, 50));
    }
    const base = /dashboard on (http:\/\/[^/]+)\/queues/.exec(out)![1];
    const password = /log in as admin \/ (\S+)/.exec(out)![1];
    const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
    expect((await fetch(`${base}/queues`)).status).toBe(401);
    expect((await fetch(`${base}/queues`, { headers: auth })).status).toBe(200);
    const view = await (await fetch(`${base}/api/jobs/${job.id}`, { headers: auth })).json();
    expect(view).toMatchObject({ id: job.id, name: 'Account.deposit', uid: 'carol', state: 'waiting' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses bad command lines with a clear message', async () => {
    const noConfig = await run(process.execPath, [CLI, 'worker'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(noConfig).toMatchObject({ code: 1 });
    expect((noConfig as { stderr: string }).stderr).toContain('--config');
    const badQueues = await run(process.execPath, [CLI, 'worker', '--config', CONFIG, '--queues', 'high=x'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect((badQueues as { stderr: string }).stderr).toContain('DEFER_ERR_INVALID_OPTION');
    const unknownQueue = await run(process.execPath, [CLI, 'worker', '--config', CONFIG, '--queues', 'urgent=1'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect((unknownQueue as { stderr: string }).stderr).toContain('queues.urgent');
    const help = await run(process.execPath, [CLI, 'help'], { env });
    expect(help.stdout).toContain('Usage: deferred');
  });
});
