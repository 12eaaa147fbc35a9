import { QUEUE_NAMES, type QueueConcurrency } from '../options.js';
import { UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { CliFailure, loadConfig } from './config-module.js';
import { cliLogger, LOG_OPTIONS, logSettings, type LogSettings } from './logger.js';
import { Supervisor, type ChildPlan } from './supervisor.js';
import { CONFIG_NOTE, parseQueues, requiredConfig, wholeNumber } from './worker.js';

export const WORKERS: CommandSpec = {
  name: 'workers',
  summary: `Run and supervise worker processes: one child \`deferred worker\` per entry of the config's
\`workers\` list (times its \`processes\`), or per process of --processes. A child that dies is
restarted, after a delay that grows while it keeps dying; one that dies right after it starts
5 times in a row is held back and reported. SIGTERM/SIGINT: every child gets SIGTERM, lets its
active jobs finish and exits; the command exits 0 (1 if a child had to be killed). SIGHUP: the
children are restarted one at a time (rolling restart: each finishes its active jobs first).`,
  positionals: [],
  options: {
    config: { type: 'string', short: 'c', value: '<module>', description: 'The config module (required), for every child.' },
    processes: { type: 'string', value: '<name=n,…>', description: 'Processes per queue, e.g. high=2,default=1,low=1: one child per process, running that queue alone (instead of the config\'s workers list).' },
    'shutdown-timeout': { type: 'string', value: '<ms>', description: 'Each child\'s grace period for active jobs on shutdown (default 30000); past it and 5 s more, a child is killed.' },
    'restart-delay': { type: 'string', value: '<ms>', description: 'Delay before a dead child is restarted (default 1000); doubles while it keeps dying quickly, up to 30000.' },
    'lock-duration': { type: 'string', value: '<ms>', description: 'Passed to every child (see deferred worker --help).' },
    'stalled-interval': { type: 'string', value: '<ms>', description: 'Passed to every child (see deferred worker --help).' },
    quiet: { type: 'boolean', short: 'q', description: 'Children do not log a line per completed job.' },
    ...LOG_OPTIONS,
  },
  notes: `${CONFIG_NOTE}
In the config: defineConfig({ ..., workers: [{ queues: { high: 4 }, processes: 2 }, { queues: { default: 2, low: 1 } }] }).
Each child gets DEFERRED_WORKER_SLOT (e.g. "high#1") in its environment and logs with its own pid.`,
};

export interface WorkersCommandOptions {
  config: string;
  /** From --processes; else the config's `workers`. */
  processes?: QueueConcurrency;
  shutdownTimeoutMs?: number;
  restartDelayMs: number;
  /** Options passed as they are to every child. */
  passThrough: string[];
  log: LogSettings;
}

export function parseWorkers(values: ParsedValues): WorkersCommandOptions {
  const passThrough: string[] = [];
  for (const name of ['shutdown-timeout', 'lock-duration', 'stalled-interval'] as const) {
    const n = wholeNumber(values, name);
    if (n !== undefined) passThrough.push(`--${name}`, String(n));
  }
  if (values.quiet === true) passThrough.push('--quiet');
  const log = logSettings(values);
  // The children's output goes to the supervisor's stdout: they log as it does.
  if (log.format) passThrough.push('--log-format', log.format);
  passThrough.push('--log-level', log.level);
  return {
    config: requiredConfig(values),
    processes: typeof values.processes === 'string' ? parseQueues(values.processes.replace(/\s/g, ''), 'processes') : undefined,
    shutdownTimeoutMs: wholeNumber(values, 'shutdown-timeout'),
    restartDelayMs: wholeNumber(values, 'restart-delay') ?? 1_000,
    passThrough,
    log,
  };
}

/** The worker groups of the config module, as the config declares them (`workers`). */
async function configuredGroups(config: string): Promise<Array<{ queues: QueueConcurrency; processes: number }>> {
  await loadConfig(config);
  const { getConfig } = await import('../config.js');
  const groups = getConfig().workers;
  if (!groups.length) throw new CliFailure('DEFER_ERR_INVALID_OPTION', `no workers to run: give --processes high=1,default=1,low=1 or a workers list in ${config} (defineConfig({ workers: [{ queues: { default: 2 } }] }))`);
  return groups;
}

const queuesArg = (queues: QueueConcurrency) => QUEUE_NAMES.map((q) => {
  const setting = queues[q];
  return `${q}=${typeof setting === 'object' ? setting.concurrency : setting ?? 0}`;
}).join(',');

/** One child per process: from --processes (a queue each, at concurrency 1) or from the config's groups. */
async function childPlans(o: WorkersCommandOptions): Promise<ChildPlan[]> {
  const plans: ChildPlan[] = [];
  const add = (label: string, queues: string) => plans.push({ label, args: ['worker', '--config', o.config, '--queues', queues, ...o.passThrough] });
  if (o.processes) {
    for (const q of QUEUE_NAMES) {
      const count = o.processes[q];
      for (let i = 1; i <= (typeof count === 'number' ? count : 0); i++) add(`${q}#${i}`, QUEUE_NAMES.map((name) => `${name}=${name === q ? 1 : 0}`).join(','));
    }
    if (!plans.length) throw new UsageError('--processes starts no process: give at least one queue a number ≥ 1');
    return plans;
  }
  for (const [g, group] of (await configuredGroups(o.config)).entries()) {
    for (let i = 1; i <= group.processes; i++) add(`workers[${g}]#${i}`, queuesArg(group.queues));
  }
  return plans;
}

export async function runWorkers(o: WorkersCommandOptions): Promise<number> {
  const logger = cliLogger(o.log);
  const plans = await childPlans(o);
  // Children run this very CLI (its entry script) with the same Node.
  const supervisor = new Supervisor([process.execPath, process.argv[1]!], plans, {
    restartDelayMs: o.restartDelayMs, quickExitMs: 10_000, maxQuickExits: 5, stopTimeoutMs: (o.shutdownTimeoutMs ?? 30_000) + 5_000,
  }, logger);
  supervisor.start();
  logger.info({ children: plans.length }, 'supervisor started');
  return new Promise<number>((resolve) => {
    let rolling: Promise<void> = Promise.resolve();
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', hup);
      logger.info({ signal }, 'stopping: SIGTERM to every child, their active jobs finish first');
      void supervisor.stop().then((code) => {
        logger.info({ code }, 'supervisor stopped');
        resolve(code);
      });
    };
    const hup = () => {
      rolling = rolling.then(() => supervisor.rollingRestart());
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', hup);
  });
}
