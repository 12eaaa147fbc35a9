import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/index.js';
import { cli, cliDatabase, CONFIG, jsonLines, NO_STACK, startCli } from './cli.run.js';

describe('the deferred CLI', () => {
  const db = cliDatabase();
  const { env, prefix, account } = db;

  it('worker runs jobs, logs JSON lines on a pipe, and on SIGTERM lets the active job finish and exits 0', async () => {
    const a = await account('cli');
    const quick = await Deferred(a, db.ds, 1, 'deposit', 3);
    const slow = await Deferred(a, db.ds, 1, 'wait', 1_500);
    const worker = startCli(['worker', '--config', CONFIG, '--queues', 'high=1,default=2,low=0'], env);
    expect(await quick.result({ timeoutMs: 15_000 })).toBe(3);
    while ((await slow.state()) !== 'active') await new Promise((r) => setTimeout(r, 25));
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await slow.state()).toBe('completed');
    expect(await slow.result()).toBe('waited');
    const records = jsonLines(worker.out());
    expect(records.find((r) => r.msg === 'worker started')).toMatchObject({ level: 30, queues: { high: 1, default: 2, low: 0 }, prefix });
    expect(records.some((r) => r.signal === 'SIGTERM')).toBe(true);
    expect(records.at(-1)).toMatchObject({ msg: 'worker stopped' });
  });

  it('worker logs a failed job as a JSON record whose err keeps the stack', async () => {
    const a = await account('err');
    const job = await Deferred(a, db.ds, 1, 'depositThenFail', 1, 'boom');
    const worker = startCli(['worker', '--config', CONFIG], env);
    await job.result({ timeoutMs: 15_000 }).catch(() => undefined);
    await worker.waitFor(new RegExp(`"jobId":"${job.id}"[^\\n]*"err"`));
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const failure = jsonLines(worker.out()).find((r) => r.jobId === job.id && r.err);
    expect(failure).toMatchObject({ level: 50, queue: 'default', call: 'Account.depositThenFail', err: { message: 'boom' } });
    expect(failure!.err.stack).toContain('depositThenFail');
  });

  it('status prints state, progress and result and exits 0 for a completed job; --json is machine-readable', async () => {
    const a = await account('st');
    const job = await Deferred(a, db.ds, 'bob', 'deposit', 9);
    const worker = startCli(['worker', '--config', CONFIG, '--quiet'], env);
    await job.result({ timeoutMs: 15_000 });
    worker.child.kill('SIGTERM');
    const text = await cli(['status', job.id, '--prefix', prefix], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/state\s+completed/);
    expect(text.stdout).toMatch(/name\s+Account\.deposit/);
    expect(text.stdout).toMatch(/result\s+9/);
    const json = await cli(['status', job.id, '--config', CONFIG, '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: job.id, queue: 'default', state: 'completed', result: 9, uid: 'bob', percent: 100 });
    await worker.exited;
  });

  it('status exits 3 for an unknown job id, with the id and prefix on stderr', async () => {
    const unknown = await cli(['status', 'nope', '--prefix', prefix], env);
    expect(unknown).toMatchObject({ code: 3, stdout: '' });
    expect(unknown.stderr).toContain(`No job nope on queues high, default, low (prefix ${prefix})`);
    const json = await cli(['status', 'nope', '--prefix', prefix, '--json'], env);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({ id: 'nope', state: 'unknown' });
  });

  it('status shows the error of a failed job with its code and exits 1', async () => {
    const a = await account('gone');
    const job = await Deferred(a, db.ds, 1, 'depositThenFail', 1, 'boom');
    const worker = startCli(['worker', '--config', CONFIG, '--quiet'], env);
    await job.result({ timeoutMs: 15_000 }).catch(() => undefined);
    worker.child.kill('SIGTERM');
    const { code, stdout, stderr } = await cli(['status', job.id, '--prefix', prefix], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/state\s+failed/);
    expect(stdout).toContain('error     boom');
    expect(stderr).toBe('');
    await worker.exited;
  });

  it('status exits 1 for a cancelled job and 4 for one that has not run yet', async () => {
    const a = await account('later');
    const waiting = await Deferred(a, db.ds, 1, 'deposit', 1);
    const cancelled = await Deferred(a, db.ds, 1, 'deposit', 2);
    expect(await cancelled.cancel()).toBe(true);
    const w = await cli(['status', waiting.id, '--prefix', prefix], env);
    expect(w.code).toBe(4);
    expect(w.stdout).toMatch(/state\s+waiting/);
    const c = await cli(['status', cancelled.id, '--prefix', prefix, '--json'], env);
    expect(c.code).toBe(1);
    expect(JSON.parse(c.stdout)).toMatchObject({ id: cancelled.id, state: 'cancelled' });
    await waiting.cancel();
  });

  it('dashboard serves bull-board and the job API behind a generated admin login, logs JSON lines, and exits 0 on SIGTERM', async () => {
    const a = await account('dash');
    const job = await Deferred(a, db.ds, 'carol', 'deposit', 4);
    const dashboard = startCli(['dashboard', '--config', CONFIG, '--port', '0'], env);
    await dashboard.waitFor(/"password"/);
    const records = jsonLines(dashboard.out());
    const base = records.find((r) => typeof r.url === 'string' && r.msg.startsWith('dashboard on'))!.url as string;
    const { user, password } = records.find((r) => r.password)!;
    expect(user).toBe('admin');
    const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
    expect((await fetch(`${base}/queues`)).status).toBe(401);
    expect((await fetch(`${base}/queues`, { headers: auth })).status).toBe(200);
    const view = await (await fetch(`${base}/api/jobs/${job.id}`, { headers: auth })).json();
    expect(view).toMatchObject({ id: job.id, name: 'Account.deposit', uid: 'carol', state: 'waiting' });
    dashboard.child.kill('SIGTERM');
    expect(await dashboard.exited).toBe(0);
    await job.cancel();
  });

  it('refuses bad worker command lines with one line, the usage, and exit 2', async () => {
    for (const [args, line] of [
      [['worker'], "deferred: missing --config <module>"],
      [['worker', '--config', CONFIG, '--queues', 'high=x'], "deferred: invalid --queues 'high=x': write name=number"],
      [['worker', '--config', CONFIG, '--queues', 'urgent=1'], "deferred: invalid --queues 'urgent=1': Invalid option queues.urgent"],
      [['worker', '--config', CONFIG, '--shutdown-timeout', 'soon'], "deferred: invalid --shutdown-timeout 'soon'"],
      [['worker', '--config', CONFIG, '--log-format', 'xml'], "deferred: invalid --log-format 'xml'"],
      [['worker', '--config', CONFIG, '--log-level', 'loud'], "deferred: invalid --log-level 'loud'"],
      [['worker', '--config', CONFIG, '--metrics-port', 'http'], "deferred: invalid --metrics-port 'http'"],
      [['worker', '--config', CONFIG, '--metrics-port', '70000'], "deferred: invalid --metrics-port '70000'"],
      [['worker', '--config', CONFIG, '--metrics-host', '127.0.0.1'], 'deferred: --metrics-host needs --metrics-port <port>'],
    ] as const) {
      const run = await cli([...args], env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0]).toContain(line);
      expect(run.stderr).toContain('Usage: deferred worker [options]');
      expect(run.stderr).not.toMatch(NO_STACK);
    }
  });

  it('worker --metrics-port serves Prometheus metrics whose counters move as it completes jobs', async () => {
    const a = await account('metrics');
    const worker = startCli(['worker', '--config', CONFIG, '--metrics-port', '0', '--metrics-host', '127.0.0.1'], env);
    try {
      const [, port] = await worker.waitFor(/"port":(\d+)[^\n]*"msg":"metrics at \/metrics"/);
      const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const completed = (text: string) => Number(/^deferred_jobs_completed_total\{queue="default",call="Account\.deposit"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      expect(completed(await scrape())).toBe(0);
      await (await Deferred(a, db.ds, 1, 'deposit', 1)).result({ timeoutMs: 15_000 });
      await (await Deferred(a, db.ds, 1, 'deposit', 1)).result({ timeoutMs: 15_000 });
      expect(completed(await scrape())).toBe(2);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
  });

  it('reads a CommonJS config module whose default export TypeScript compiled to exports.default', async () => {
    const run = await cli(['status', 'nope', '--config', 'test/fixtures/cli-config-cjs-default.cjs'], env);
    expect([run.code, run.stderr]).toEqual([3, expect.stringContaining(`No job nope`)]);
  });
});
