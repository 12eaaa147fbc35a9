import { describe, expect, it } from 'vitest';
import { Deferred, isQueuePaused } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { cli, cliDatabase, CONFIG, jsonLines, NO_STACK, startCli } from './cli.run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deferred pause / resume, and worker --name', () => {
  const db = cliDatabase();
  const { env, prefix, account } = db;

  it('pause stops a running worker from taking jobs of that queue, resume lets it drain them; each exits 0 and prints the state', async () => {
    const worker = startCli(['worker', '--config', CONFIG, '--name', 'cli-worker-1'], env);
    await worker.waitFor(/worker started/);
    try {
      const paused = await cli(['pause', 'default', '--prefix', prefix], env);
      expect(paused).toMatchObject({ code: 0, stderr: '' });
      expect(paused.stdout.trim()).toBe(`queue default is paused (prefix ${prefix})`);
      expect(await isQueuePaused('default')).toBe(true);

      const a = await account('paused');
      const job = await Deferred(a, db.ds, 1, 'deposit', 5);
      await sleep(600);
      expect(await job.state()).toBe('waiting');

      const resumed = await cli(['resume', 'default', '--config', CONFIG], env);
      expect(resumed).toMatchObject({ code: 0, stderr: '' });
      expect(resumed.stdout.trim()).toBe(`queue default is not paused (prefix ${prefix})`);
      expect(await job.result({ timeoutMs: 15_000 })).toBe(5);

      // --name: in the worker's log records and on the jobs it took.
      expect(jsonLines(worker.out()).find((r) => r.msg === 'worker started')).toMatchObject({ worker: 'cli-worker-1', prefix });
      expect((await producerQueue('default').getJob(job.id))?.processedBy).toBe('cli-worker-1');
    } finally {
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  });

  it.each([
    [['pause', 'urgent', '--prefix', prefix], "deferred: unknown queue 'urgent': one of high, default, low"],
    [['resume', 'lo'], "deferred: unknown queue 'lo': one of high, default, low (did you mean low?)"],
    [['pause'], 'deferred: missing <queue>: deferred pause <queue> [options]'],
    [['pause', 'low', '--config', CONFIG, '--prefix', prefix], 'deferred: give --config or --prefix, not both'],
    [['worker', '--config', CONFIG, '--name', 'has space'], "deferred: invalid --name 'has space': Invalid option name"],
  ])('%j is a usage error: exit 2, one line naming it, no stack', async (args, message) => {
    const { code, stdout, stderr } = await cli(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toContain(message);
    expect(stderr).not.toMatch(NO_STACK);
    expect(await isQueuePaused('low')).toBe(false);
  });

  it('pause --help shows the command, its argument and exit codes', async () => {
    const { code, stdout } = await cli(['pause', '--help'], env);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: deferred pause <queue> [options]');
    expect(stdout).toContain('bull-board');
    expect((await cli(['help'], env)).stdout).toMatch(/resume <q>\s+Resume a paused queue/);
  });
});
