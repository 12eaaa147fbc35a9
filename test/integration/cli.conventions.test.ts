import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/index.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';
import { cli, CLI, cliDatabase, CONFIG, exitCodeWhile, jsonLines, NO_STACK, startCli } from './cli.run.js';

const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('the deferred CLI follows Node conventions', () => {
  it('prints the package version for --version, -v and version', async () => {
    for (const flag of ['--version', '-v', 'version']) {
      expect(await cli([flag])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    }
  });

  it('prints a command\'s own help for <command> --help, -h and help <command>', async () => {
    const flags: Record<string, string[]> = {
      worker: ['--config <module>', '--queues', '--shutdown-timeout <ms>', '--quiet', '--log-format <json|pretty>', '--log-level <level>'],
      dashboard: ['--config <module>', '--port <port>', '--host <host>', '--log-format'],
      status: ['<jobId>', '--config <module>', '--prefix <prefix>', '--json', '--follow', 'Exit codes: 0 completed, 1 failed or cancelled, 3 no such job, 4 not finished'],
    };
    for (const [command, expected] of Object.entries(flags)) {
      for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
        const run = await cli(args);
        expect(run.code, args.join(' ')).toBe(0);
        expect(run.stdout).toMatch(new RegExp(`^Usage: deferred ${command} `));
        for (const text of expected) expect(run.stdout).toContain(text);
      }
    }
    const general = await cli(['--help']);
    expect(general.code).toBe(0);
    expect(general.stdout).toMatch(/^Usage: deferred <command> \[options\]/);
    for (const command of ['worker', 'dashboard', 'status', 'version']) expect(general.stdout).toContain(`  ${command} `);
  });

  it.each([
    [['dashboard', '--config', CONFIG, '--prot', '3000'], "deferred: unknown option '--prot' for 'dashboard' (did you mean --port?)", 'dashboard'],
    [['status', 'abc', '--jsno'], "deferred: unknown option '--jsno' for 'status' (did you mean --json?)", 'status'],
    [['status', 'abc', '--port', '1'], "deferred: unknown option '--port' for 'status'", 'status'],
    [['status'], 'deferred: missing <jobId>: deferred status <jobId> [options]', 'status'],
    [['status', 'a', 'b'], "deferred: unexpected argument 'b' for 'status'", 'status'],
    [['status', 'abc', '--prefix'], "deferred: option '--prefix' needs a value", 'status'],
    [['status', 'abc', '--follow=yes'], "deferred: option '--follow' takes no value", 'status'],
    [['status', 'abc', '--config', CONFIG, '--prefix', 'p'], 'deferred: give --config or --prefix, not both', 'status'],
    [['dashboard', '--config', CONFIG, '--port', 'abc'], "deferred: invalid --port 'abc': a whole number from 0 to 65535", 'dashboard'],
    [['dashboard', '--config', CONFIG, '--port', '70000'], "deferred: invalid --port '70000'", 'dashboard'],
    [['dashboard'], 'deferred: missing --config <module>', 'dashboard'],
    [['worker', '--config', CONFIG, '--queues', 'x'], "deferred: invalid --queues 'x'", 'worker'],
    [['stauts', 'abc'], "deferred: unknown command 'stauts' (did you mean status?)", undefined],
    [['--config', CONFIG, 'worker'], "deferred: unknown option '--config' (options go after the command", undefined],
  ] as const)('a usage error (%j) prints one line and the usage to stderr and exits 2', async (args, line, command) => {
    const run = await cli([...args]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const [first, blank, usage] = run.stderr.split('\n');
    expect(first.startsWith(line), first).toBe(true);
    expect(blank).toBe('');
    expect(usage).toMatch(command ? new RegExp(`^Usage: deferred ${command} `) : /^Usage: deferred <command>/);
    expect(run.stderr).not.toMatch(NO_STACK);
  });

  it('a runtime error prints one line `deferred: <CODE>: message` and exits 1; --verbose adds the stack', async () => {
    const down = { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' };
    const [quiet, verbose] = await Promise.all([cli(['status', 'abc'], down), cli(['status', 'abc', '--verbose'], down)]);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/^deferred: DEFER_ERR_REDIS_UNAVAILABLE: Redis .* did not answer within \d+ ms\n$/);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(NO_STACK);
    const missing = await cli(['status', 'abc', '--config', 'dist/test/fixtures/no-such-module.js']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^deferred: ERR_MODULE_NOT_FOUND: cannot load the config module dist\/test\/fixtures\/no-such-module\.js: [^\n]*\n$/);
    const unconfigured = await cli(['worker', '--config', 'dist/test/fixtures/cli-config-unconfigured.js']);
    expect(unconfigured.code).toBe(1);
    expect(unconfigured.stderr).toBe('deferred: DEFER_ERR_NOT_CONFIGURED: the config module dist/test/fixtures/cli-config-unconfigured.js neither exports defineConfig({...}) as default nor calls configure()\n');
  });

  it('status writes no key into Redis, whatever the prefix', async () => {
    const prefix = uniquePrefix();
    const env = { ...process.env, REDIS_URL };
    expect((await cli(['status', 'abc', '--prefix', prefix], env)).code).toBe(3);
    expect((await cli(['status', 'abc', '--prefix', prefix, '--json', '--follow'], env)).code).toBe(3);
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.keys(`${prefix}*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  describe('with jobs', () => {
    const db = cliDatabase();
    const { env, prefix, account } = db;

    it('status --follow prints one JSON line per change on a pipe until the job ends, and exits with its status code', async () => {
      const job = await Deferred(await account('follow'), db.ds, 1, 'countTo', 4, 300);
      const follow = startCli(['status', job.id, '--prefix', prefix, '-f'], env);
      await follow.waitFor(/"state":"waiting"/);
      const worker = startCli(['worker', '--config', CONFIG, '--quiet'], env);
      expect(await exitCodeWhile(follow, worker)).toBe(0);
      worker.child.kill('SIGTERM');
      const lines = jsonLines(follow.out());
      expect(lines[0]).toMatchObject({ id: job.id, state: 'waiting', percent: 0 });
      expect(lines.at(-1)).toMatchObject({ id: job.id, state: 'completed', percent: 100, result: 4 });
      const steps = lines.filter((l) => l.state === 'active' && /^step \d of 4$/.test(l.message ?? ''));
      expect(steps.length).toBeGreaterThanOrEqual(2);
      const percents = lines.map((l) => l.percent as number);
      expect(percents).toEqual([...percents].sort((x, y) => x - y));
      // One line per change: no two consecutive lines are the same.
      for (let i = 1; i < lines.length; i++) expect(JSON.stringify(lines[i])).not.toBe(JSON.stringify(lines[i - 1]));
      expect(follow.err()).toBe('');
      await worker.exited;
    });

    it('status --follow exits 1 when the job it follows fails', async () => {
      const job = await Deferred(await account('follow-fail'), db.ds, 1, 'depositThenFail', 1, 'nope');
      const follow = startCli(['status', job.id, '--prefix', prefix, '--follow'], env);
      await follow.waitFor(/"state":"waiting"/);
      const worker = startCli(['worker', '--config', CONFIG, '--quiet'], env);
      expect(await exitCodeWhile(follow, worker)).toBe(1);
      worker.child.kill('SIGTERM');
      expect(jsonLines(follow.out()).at(-1)).toMatchObject({ state: 'failed', error: { message: 'nope' } });
      await worker.exited;
    });

    it('status --follow on a terminal rewrites one progress line, then prints the outcome', async () => {
      const job = await Deferred(await account('tty'), db.ds, 1, 'countTo', 3, 300);
      const worker = startCli(['worker', '--config', CONFIG, '--quiet'], env);
      // util-linux `script` runs the CLI on a pseudo-terminal.
      const { stdout } = await promisify(execFile)('script', ['-qec', `${process.execPath} ${CLI} status ${job.id} --prefix ${prefix} --follow`, '/dev/null'], { env: { ...env, COLUMNS: '80' } });
      worker.child.kill('SIGTERM');
      const frames = stdout.split('\r').map((f) => f.replace(/\x1b\[K/g, '')).filter((f) => f.trim());
      expect(frames.some((f) => /^active\s+\[#+\.+\]\s+\d+%\s+step \d of 3$/.test(f)), stdout).toBe(true);
      expect(stdout).toMatch(/completed\s+\[#{24}\] 100%/);
      expect(stdout).toMatch(/state\s+completed/);
      expect(stdout).toMatch(/result\s+3/);
      expect(stdout).not.toMatch(/^\{/m);
      await worker.exited;
    });

    it('worker --log-format pretty writes readable lines, even on a pipe', async () => {
      const worker = startCli(['worker', '--config', CONFIG, '--log-format', 'pretty', '--queues', 'low=0'], env);
      await worker.waitFor(/worker started/);
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.out()).toMatch(/^\d\d:\d\d:\d\d INFO  worker started queues=\{"high":1,"default":1,"low":0\} prefix=\S+/m);
      expect(worker.out()).not.toMatch(/^\{/m);
    });
  });
});
