import { describe, expect, it } from 'vitest';
import { closeDeferred, configure, listSchedules } from '../../src/index.js';
import { jsonLines, startCli, type CliProcess } from './cli.run.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers.js';

// Seed 002's scheduler example (examples/schedules): a task every 5 seconds, with two worker
// processes under `deferred workers`, each of them started with the schedule in its config.
const CONFIG = 'dist/examples/schedules/config.js';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ticks the task printed, as epoch ms, in the order they ran. */
const ticks = (p: CliProcess) => [...p.out().matchAll(/my_worker: received payload with foo=bar \(job repeat:my-worker:(\d+), pid (\d+)\)/g)].map((m) => Number(m[1]));

/** The JSON log records among the output (the task prints plain lines). */
const records = (p: CliProcess, msg: string) => jsonLines(p.out().split('\n').filter((l) => l.startsWith('{')).join('\n')).filter((r) => r.msg === msg);

async function until(p: CliProcess, check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) if (check()) return;
  throw new Error(`timed out waiting for ${what}:\n${p.out()}\n${p.err()}`);
}

describe('the seed-002 scheduler example with two worker processes', () => {
  it('fires once per 5-second tick, with no tick missed or run twice, across a rolling restart of both processes', async () => {
    const prefix = uniquePrefix();
    const env = { ...process.env, REDIS_URL, DEFERRED_PREFIX: prefix };
    const sup = startCli(['workers', '--config', CONFIG, '--restart-delay', '200'], env);
    try {
      await until(sup, () => records(sup, 'worker started').length === 2, 'two workers', 20_000);
      await until(sup, () => ticks(sup).length >= 2, 'two ticks', 15_000);
      sup.child.kill('SIGHUP');
      await until(sup, () => records(sup, 'rolling restart done').length > 0, 'the rolling restart', 20_000);
      const afterRestart = ticks(sup).length;
      await until(sup, () => ticks(sup).length >= afterRestart + 2, 'two more ticks', 15_000);
      sup.child.kill('SIGTERM');
      expect(await sup.exited).toBe(0);

      const seen = ticks(sup);
      expect(new Set(seen).size).toBe(seen.length);
      for (const t of seen) expect(t % 5_000).toBe(0);
      const sorted = [...seen].sort((a, b) => a - b);
      // Consecutive ticks: none missed while the processes restarted, none run twice.
      for (let i = 1; i < sorted.length; i++) expect(sorted[i] - sorted[i - 1]).toBe(5_000);
      // Four workers started with the schedule (two, then their replacements); the first one wrote it.
      expect(records(sup, 'schedules updated from the configuration')).toHaveLength(1);

      configure({ connection: REDIS_URL, prefix, dataSources: {} });
      const [info, ...rest] = await listSchedules();
      expect(rest).toEqual([]);
      expect(info).toMatchObject({ name: 'my-worker', origin: 'config', when: { cron: '*/5 * * * * *' }, target: { task: 'my_worker', uid: 'system' }, last: { state: 'completed' } });
    } finally {
      if (sup.child.exitCode === null) sup.child.kill('SIGKILL');
      await closeDeferred().catch(() => undefined);
      await deleteKeys(prefix);
    }
  }, 90_000);
});
