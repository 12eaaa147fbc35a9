import { describe, expect, it } from 'vitest';
import { Deferred, type DeferredJob } from '../../src/index.js';
import { cli, cliDatabase, jsonLines, startCli, type CliProcess } from './cli.run.js';

const CONFIG = 'dist/test/fixtures/cli-config-workers.js';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The supervisor's own records (children log their own lines, with their own pid). */
const records = (p: CliProcess, msg: string) => jsonLines(p.out()).filter((r) => r.msg === msg);

/** Waits until `check` holds, or fails with the supervisor's output. */
async function until(p: CliProcess, check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end;) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}:\n${p.out()}\n${p.err()}`);
}

describe('deferred workers (the supervisor)', () => {
  const db = cliDatabase();
  const { env, account } = db;
  // Short locks: the jobs of a child killed with SIGKILL run again within about 2 s.
  const FAST = ['--lock-duration', '2000', '--stalled-interval', '1000', '--restart-delay', '200', '--quiet'];

  it('runs one child per process of --processes, restarts a child killed with SIGKILL mid-jobs, loses no job, and exits 0 on SIGTERM', async () => {
    const a = await account('sup');
    const jobs: DeferredJob[] = [];
    for (let i = 0; i < 12; i++) jobs.push(await Deferred(a, db.ds, 1, 'wait', 300));
    const sup = startCli(['workers', '--config', CONFIG, '--processes', 'default=2', ...FAST], env);
    await until(sup, () => records(sup, 'child started').length === 2, 'two children');
    const [first] = records(sup, 'child started');
    expect(records(sup, 'child started').map((r) => r.child)).toEqual(['default#1', 'default#2']);
    // Kill one child while it runs a job.
    await until(sup, async () => (await Promise.all(jobs.map((j) => j.state()))).includes('active'), 'a running job');
    await sleep(100);
    process.kill(first!.childPid as number, 'SIGKILL');
    await until(sup, () => records(sup, 'child started').length === 3, 'the restart');
    expect(records(sup, 'child exited; restarting it')[0]).toMatchObject({ child: 'default#1', childPid: first!.childPid, signal: 'SIGKILL' });
    for (const job of jobs) expect(await job.result({ timeoutMs: 30_000 })).toBe('waited');
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
    expect(records(sup, 'supervisor stopped')[0]).toMatchObject({ code: 0 });
    expect(records(sup, 'child exited').map((r) => r.child).sort()).toEqual(['default#1', 'default#2']);
  }, 60_000);

  it('runs the config module\'s workers list, and SIGHUP replaces the children one at a time while jobs keep running', async () => {
    const a = await account('hup');
    const sup = startCli(['workers', '--config', CONFIG, ...FAST], env);
    await until(sup, () => records(sup, 'child started').length === 3, 'three children');
    expect(records(sup, 'child started').map((r) => [r.child, r.args[r.args.indexOf('--queues') + 1]])).toEqual([
      ['workers[0]#1', 'high=0,default=2,low=0'], ['workers[0]#2', 'high=0,default=2,low=0'], ['workers[1]#1', 'high=1,default=0,low=0'],
    ]);
    const before = records(sup, 'child started').map((r) => r.childPid);
    const jobs: DeferredJob[] = [];
    for (let i = 0; i < 10; i++) jobs.push(await Deferred(a, db.ds, 1, 'wait', 200));
    sup.child.kill('SIGHUP');
    await until(sup, () => records(sup, 'rolling restart done').length === 1, 'the rolling restart');
    const after = records(sup, 'child started').slice(3).map((r) => r.childPid);
    expect(after).toHaveLength(3);
    for (const pid of after) expect(before).not.toContain(pid);
    // Each child stopped on its own (its active jobs finished), none was restarted as a crash.
    expect(records(sup, 'child exited; restarting it')).toEqual([]);
    for (const job of jobs) expect(await job.result({ timeoutMs: 30_000 })).toBe('waited');
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
  }, 60_000);

  it('holds back a child that keeps dying right after it starts, and says so', async () => {
    const sup = startCli(['workers', '--config', CONFIG, '--processes', 'low=1', '--restart-delay', '50'], { ...env, DEFERRED_CRASH: '1' });
    await until(sup, () => records(sup, 'child keeps dying right after it starts: held back, not restarted until SIGHUP').length === 1, 'the hold');
    const held = records(sup, 'child keeps dying right after it starts: held back, not restarted until SIGHUP')[0]!;
    expect(held).toMatchObject({ level: 50, child: 'low#1', code: 1, quickExits: 5 });
    expect(records(sup, 'child started')).toHaveLength(5);
    // The restart delay grew: 50, 100, 200, 400 ms between the five starts.
    const delays = records(sup, 'child exited; restarting it').map((r) => r.restartInMs);
    expect(delays).toEqual([50, 100, 200, 400]);
    await sleep(500);
    expect(records(sup, 'child started')).toHaveLength(5);
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
  }, 30_000);

  it('children stop by themselves, gracefully, when the supervisor is killed with SIGKILL', async () => {
    const sup = startCli(['workers', '--config', CONFIG, '--processes', 'default=2', ...FAST], env);
    await until(sup, () => jsonLines(sup.out()).filter((r) => r.msg === 'worker started').length === 2, 'two workers');
    const pids = records(sup, 'child started').map((r) => r.childPid as number);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    sup.child.kill('SIGKILL');
    await sup.exited;
    await until(sup, () => pids.every((pid) => !alive(pid)), 'the children to stop');
    expect(jsonLines(sup.out()).filter((r) => r.msg === 'worker stopped').length).toBe(2);
  }, 30_000);

  it('kills a child that does not stop within its grace period (plus 5 s), and then exits 1', async () => {
    const sup = startCli(['workers', '--config', CONFIG, '--processes', 'low=1', '--shutdown-timeout', '0'], { ...env, DEFERRED_HANG_ON_TERM: '1' });
    await until(sup, () => jsonLines(sup.out()).some((r) => r.msg === 'worker started'), 'the worker');
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(1);
    expect(records(sup, 'child did not stop in time: killed')[0]).toMatchObject({ level: 50, child: 'low#1', afterMs: 5_000 });
    expect(records(sup, 'child exited')[0]).toMatchObject({ child: 'low#1', signal: 'SIGKILL' });
    expect(records(sup, 'supervisor stopped')[0]).toMatchObject({ code: 1 });
  }, 30_000);

  it('refuses a command line without workers to run, with one line', async () => {
    const none = await cli(['workers', '--config', 'dist/test/fixtures/cli-config.js'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no workers to run: give --processes');
    const zero = await cli(['workers', '--config', CONFIG, '--processes', 'high=0'], env);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--processes starts no process');
    const bad = await cli(['workers', '--config', CONFIG, '--processes', 'urgent=2'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toContain("invalid --processes 'urgent=2'");
  });
});
