import { describe, expect, it } from 'vitest';
import { defineTask, listSchedules, schedule, startWorker, unschedule, type ScheduleInfo } from '../../src/index.js';
import { schedulesTable } from '../../src/cli/schedules.js';
import { formatEvery } from '../../src/schedule/describe.js';
import { syncSchedules } from '../../src/schedule/sync.js';
import { cli, cliDatabase, CONFIG, NO_STACK } from './cli.run.js';

defineTask('cli-heartbeat', () => 'beat');

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

/** Waits until `check` holds, polling. */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await check());) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('deferred schedules, deferred schedules remove', () => {
  // A unique prefix, this process configured on it (cleaned up afterwards: deleteKeys), and the env of the config module.
  const db = cliDatabase();
  const { env, prefix } = db;

  it('lists no schedule in one line, or [] with --json, and exits 0', async () => {
    const empty = await cli(['schedules', '--prefix', prefix], env);
    expect(empty).toEqual({ code: 0, stdout: `No schedules (prefix ${prefix})\n`, stderr: '' });
    const json = await cli(['schedules', '--config', CONFIG, '--json'], env);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('lists a cron schedule with a time zone calling a model method and an every schedule running a task, as a table or as JSON', async () => {
    const account = await db.account('nightly');
    await schedule('heartbeat', { every: 5_000 }, { task: 'cli-heartbeat', payload: {} }, { queue: 'high' });
    await syncSchedules({
      nightly: { when: { cron: '0 3 * * *', tz: 'Europe/Paris' }, target: { model: account, db: 'main', uid: 'ann', method: 'deposit', args: [5] } },
    });

    const run = await cli(['schedules', '--prefix', prefix], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^NAME\s+QUEUE\s+WHEN\s+TARGET\s+ORIGIN\s+NEXT RUN\s+LAST RUN$/);
    // Sorted by name; the columns line up under the header.
    expect(lines[1]).toMatch(new RegExp(`^heartbeat\\s+high\\s+every 5s\\s+task cli-heartbeat\\s+api\\s+${ISO}\\s+-$`));
    expect(lines[2]).toMatch(new RegExp(`^nightly\\s+default\\s+0 3 \\* \\* \\* \\(Europe/Paris\\)\\s+Account\\.deposit \\[id=${account.id}\\]\\s+config\\s+${ISO}\\s+-$`));
    for (const column of ['QUEUE', 'WHEN', 'TARGET', 'ORIGIN', 'NEXT RUN', 'LAST RUN']) {
      const at = lines[0].indexOf(column);
      expect(lines.slice(1).every((line) => line[at - 1] === ' ' && line[at - 2] === ' ' && line[at] !== ' '), column).toBe(true);
    }
    // 3 a.m. in Paris is 01:00 or 02:00 UTC.
    expect(lines[2]).toMatch(/T0[12]:00:00\.000Z/);

    const json = await cli(['schedules', '--config', CONFIG, '--json'], env);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const list = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(list).toEqual([
      { name: 'heartbeat', queue: 'high', when: { every: 5_000 }, target: { task: 'cli-heartbeat', uid: 'system' }, origin: 'api', next: expect.stringMatching(new RegExp(`^${ISO}$`)), iterations: expect.any(Number) },
      {
        name: 'nightly', queue: 'default', when: { cron: '0 3 * * *', tz: 'Europe/Paris' }, origin: 'config',
        target: { model: 'Account', method: 'deposit', ids: [{ id: account.id }], uid: 'ann' }, next: expect.stringMatching(new RegExp(`^${ISO}$`)), iterations: expect.any(Number),
      },
    ]);
    // The same as listSchedules() in code, dates as ISO strings.
    expect(list).toEqual(JSON.parse(JSON.stringify(await listSchedules())));
  });

  it("shows a schedule's last run, and 'ended' once its limit is reached", async () => {
    await schedule('once', { every: 1_000 }, { task: 'cli-heartbeat', payload: {} }, { queue: 'low', limit: 1 });
    const worker = await startWorker({ relay: false, queues: { low: 1 }, shutdownTimeoutMs: 5_000 });
    try {
      await until(async () => (await listSchedules()).find((s) => s.name === 'once')?.last?.state === 'completed');
    } finally {
      await worker.close();
    }
    const info = (await listSchedules()).find((s) => s.name === 'once')!;
    const run = await cli(['schedules', '--prefix', prefix], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const line = run.stdout.split('\n').find((l) => l.startsWith('once '));
    expect(info.next).toBeUndefined();
    expect(line).toMatch(new RegExp(`^once\\s+low\\s+every 1s\\s+task cli-heartbeat\\s+api\\s+ended\\s+completed ${ISO} \\(job repeat:once:\\d+\\)$`));
    expect(line).toContain(`completed ${info.last!.at.toISOString()} (job ${info.last!.jobId})`);
    expect(await unschedule('once')).toBe(true);
  });

  it("formats periods, ids and a schedule without a next run ('ended') the way the table shows them", () => {
    expect([100, 1_500, 5_000, 90_000, 60_000, 7_200_000, 86_400_000].map(formatEvery)).toEqual(['every 100ms', 'every 1500ms', 'every 5s', 'every 90s', 'every 1m', 'every 2h', 'every 1d']);
    const ended: ScheduleInfo = {
      name: 'close-lines', queue: 'low', when: { cron: '*/5 * * * *' }, origin: 'api', limit: 3, iterations: 3,
      target: { model: 'Line', method: 'close', ids: [1, 2, 3, 4, 5, 6, 7].map((n) => ({ order: 1, n })), uid: 'u' },
      last: { jobId: 'repeat:close-lines:1', at: new Date(0), state: 'failed' },
    };
    const repo: ScheduleInfo = { name: 'purge', queue: 'default', when: { every: 3_600_000 }, origin: 'config', target: { model: 'AccountRepository', method: 'purge', uid: 1 }, next: new Date(1) };
    expect(schedulesTable([ended, repo]).split('\n')).toEqual([
      'NAME         QUEUE    WHEN         TARGET                                                                                  ORIGIN  NEXT RUN                  LAST RUN',
      'close-lines  low      */5 * * * *  Line.close [order=1 n=1, order=1 n=2, order=1 n=3, order=1 n=4, order=1 n=5, … 2 more]  api     ended                     failed 1970-01-01T00:00:00.000Z (job repeat:close-lines:1)',
      'purge        default  every 1h     AccountRepository.purge                                                                 config  1970-01-01T00:00:00.001Z  -',
    ]);
  });

  it('remove removes a schedule made by schedule(): exit 0, says so, gone from the list', async () => {
    const run = await cli(['schedules', 'remove', 'heartbeat', '--prefix', prefix], env);
    expect(run).toEqual({ code: 0, stdout: `Removed schedule 'heartbeat' (queue high, origin api; prefix ${prefix})\n`, stderr: '' });
    expect((await listSchedules()).map((s) => s.name)).toEqual(['nightly']);
    const list = await cli(['schedules', '--prefix', prefix], env);
    expect(list.stdout).not.toContain('heartbeat');
  });

  it('remove of a schedule declared in the config module says it comes back from a worker with that config', async () => {
    const run = await cli(['schedules', 'remove', 'nightly', '--config', CONFIG], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`Removed schedule 'nightly' (queue default, origin config; prefix ${prefix})`);
    expect(run.stdout).toContain("'nightly' is declared in the config module's schedules: a worker with that config adds it again (at its start, or within 10 s while it runs).");
    expect(await listSchedules()).toEqual([]);
    expect(await cli(['schedules', '--prefix', prefix], env)).toMatchObject({ code: 0, stdout: `No schedules (prefix ${prefix})\n` });
  });

  it('remove of a schedule that does not exist exits 3 with one line on stderr', async () => {
    const run = await cli(['schedules', 'remove', 'nope', '--prefix', prefix], env);
    expect(run).toEqual({ code: 3, stdout: '', stderr: `No schedule 'nope' (prefix ${prefix})\n` });
  });

  it.each([
    [['schedules', 'remove', 'bad name', '--prefix', prefix], 'deferred: invalid schedule name: "bad name" must be 1 to 100 letters, digits', 'schedules remove'],
    [['schedules', 'remove', '-x'], "deferred: unknown option '-x' for 'schedules remove'", 'schedules remove'],
    [['schedules', 'remove'], 'deferred: missing <name>: deferred schedules remove <name> [options]', 'schedules remove'],
    [['schedules', 'remove', 'a', 'b'], "deferred: unexpected argument 'b' for 'schedules remove'", 'schedules remove'],
    [['schedules', 'list'], "deferred: unexpected argument 'list' for 'schedules'", 'schedules'],
    [['schedules', '--jsno'], "deferred: unknown option '--jsno' for 'schedules' (did you mean --json?)", 'schedules'],
    [['schedules', '--config', CONFIG, '--prefix', prefix], 'deferred: give --config or --prefix, not both', 'schedules'],
    [['schedules', 'remove', 'x', '--json'], "deferred: unknown option '--json' for 'schedules remove'", 'schedules remove'],
  ] as const)('%j is a usage error: exit 2, one line naming it, then the usage', async (args, message, command) => {
    const { code, stdout, stderr } = await cli([...args], env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const [first, blank, usage] = stderr.split('\n');
    expect(first.startsWith(message), first).toBe(true);
    expect(blank).toBe('');
    expect(usage).toMatch(new RegExp(`^Usage: deferred ${command} `));
    expect(stderr).not.toMatch(NO_STACK);
  });

  it('Redis unreachable: list and remove print one line `deferred: <CODE>: message` and exit 1', async () => {
    const down = { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
    const runs = await Promise.all([cli(['schedules'], down), cli(['schedules', 'remove', 'nightly'], down)]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^deferred: DEFER_ERR_REDIS_UNAVAILABLE: [^\n]*\n$/);
    }
  });

  it('help: schedules --help, help schedules, schedules remove --help, help schedules remove, and the command list', async () => {
    for (const args of [['schedules', '--help'], ['schedules', '-h'], ['help', 'schedules']]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^Usage: deferred schedules \[options\]/);
      for (const text of ['--config <module>', '--prefix <prefix>', '--json', 'deferred schedules remove <name>', 'comes back when a worker starts with that config, or within 10 s while one runs', 'Exit codes: 0']) {
        expect(run.stdout, args.join(' ')).toContain(text);
      }
    }
    for (const args of [['schedules', 'remove', '--help'], ['schedules', 'remove', 'x', '-h'], ['help', 'schedules', 'remove']]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^Usage: deferred schedules remove <name> \[options\]/);
      for (const text of ['<name>', '--config <module>', '--prefix <prefix>', 'comes back when a worker starts with that config, or within 10 s while one runs', '3 no such schedule', '2 a usage error']) {
        expect(run.stdout, args.join(' ')).toContain(text);
      }
    }
    expect((await cli(['help'])).stdout).toMatch(/\n {2}schedules {4}List the schedules; 'schedules remove <name>' removes one\.\n/);
    expect(await cli(['help', 'schedules', 'remove', 'x'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^deferred: unexpected argument 'x' for 'help'/) });
  });
});
