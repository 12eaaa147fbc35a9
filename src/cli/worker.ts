import { DeferralError } from '../errors.js';
import { validateConcurrency, type QueueConcurrency } from '../options.js';
import { resolveWorkerOptions } from '../worker/worker-options.js';
import { UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';
import { cliLogger, LOG_OPTIONS, logSettings, type LogSettings } from './logger.js';

export const CONFIG_NOTE = `The config module is compiled JavaScript whose default export is defineConfig({...})
(or a function returning it, possibly async), or which calls configure() itself.`;

export const WORKER: CommandSpec = {
  name: 'worker',
  summary: `Run a worker until SIGTERM or SIGINT (Ctrl-C), then let active jobs finish and exit 0.
Logs through pino: JSON lines when stdout is not a terminal, readable lines on a terminal.`,
  positionals: [],
  options: {
    config: { type: 'string', short: 'c', value: '<module>', description: 'The config module (required).' },
    queues: { type: 'string', value: '<name=n,…>', description: 'Concurrency per queue, e.g. high=2,default=1,low=1 (0 skips a queue; default 1 each).' },
    name: { type: 'string', value: '<name>', description: "This worker's name in bull-board's worker list and in its log records (default <host>:<pid>)." },
    'shutdown-timeout': { type: 'string', value: '<ms>', description: 'Grace period for active jobs on shutdown (default 30000).' },
    'lock-duration': { type: 'string', value: '<ms>', description: 'How long a job\'s lock lasts without renewal (default 30000); a dead worker\'s jobs run again after about this plus --stalled-interval.' },
    'stalled-interval': { type: 'string', value: '<ms>', description: 'How often to look for jobs whose worker died (default 30000).' },
    quiet: { type: 'boolean', short: 'q', description: 'Do not log a line per completed job.' },
    ...LOG_OPTIONS,
    'metrics-port': { type: 'string', value: '<port>', description: 'Serve Prometheus metrics at http://<host>:<port>/metrics (needs prom-client).' },
    'metrics-host': { type: 'string', value: '<host>', description: 'The address for --metrics-port (default 0.0.0.0, all interfaces).' },
  },
  notes: CONFIG_NOTE,
};

export interface WorkerCommandOptions {
  config: string;
  queues?: QueueConcurrency;
  name?: string;
  shutdownTimeoutMs?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  quiet: boolean;
  log: LogSettings;
  metrics?: { port: number; host: string };
}

/** `high=2,default=1` as { high: 2, default: 1 }, checked as startWorker() would. */
export function parseQueues(spec: string, option = 'queues'): QueueConcurrency {
  const out: Record<string, number> = {};
  for (const part of spec.split(',')) {
    const [name, n, more] = part.split('=');
    if (!name?.trim() || n === undefined || more !== undefined || !/^\d+$/.test(n.trim())) {
      throw new UsageError(`invalid --${option} '${spec}': write name=number, e.g. high=2,default=1,low=0`);
    }
    out[name.trim()] = Number(n);
  }
  try {
    validateConcurrency(out);
  } catch (err) {
    if (err instanceof DeferralError) throw new UsageError(`invalid --${option} '${spec}': ${err.message}`);
    throw err;
  }
  return out;
}

/** A whole number option, or a usage error naming it. */
export function wholeNumber(values: ParsedValues, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const text = values[name];
  if (typeof text !== 'string') return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > max) throw new UsageError(`invalid --${name} '${text}': a whole number${max < Number.MAX_SAFE_INTEGER ? ` from 0 to ${max}` : ' ≥ 0'}`);
  return n;
}

/** The config module path, required by commands that run something. */
export function requiredConfig(values: ParsedValues): string {
  if (typeof values.config !== 'string') throw new UsageError('missing --config <module>');
  return values.config;
}

function metricsEndpoint(values: ParsedValues): Pick<WorkerCommandOptions, 'metrics'> {
  const port = wholeNumber(values, 'metrics-port', 65_535);
  if (port === undefined) {
    if (typeof values['metrics-host'] === 'string') throw new UsageError('--metrics-host needs --metrics-port <port>');
    return {};
  }
  return { metrics: { port, host: typeof values['metrics-host'] === 'string' ? values['metrics-host'] : '0.0.0.0' } };
}

/** `--name`, checked as startWorker() would. */
function workerName(name: string): string {
  try {
    resolveWorkerOptions({ name });
  } catch (err) {
    if (err instanceof DeferralError) throw new UsageError(`invalid --name '${name}': ${err.message}`);
    throw err;
  }
  return name;
}

/** --lock-duration and --stalled-interval, checked as startWorker() would. */
function lockSettings(values: ParsedValues): Pick<WorkerCommandOptions, 'lockDurationMs' | 'stalledIntervalMs'> {
  const lockDurationMs = wholeNumber(values, 'lock-duration');
  const stalledIntervalMs = wholeNumber(values, 'stalled-interval');
  try {
    resolveWorkerOptions({ lockDurationMs, stalledIntervalMs });
  } catch (err) {
    if (err instanceof DeferralError) throw new UsageError(`invalid --${(err.details as { option?: string }).option === 'lockDurationMs' ? 'lock-duration' : 'stalled-interval'}: ${err.message}`);
    throw err;
  }
  return { lockDurationMs, stalledIntervalMs };
}

export function parseWorker(values: ParsedValues): WorkerCommandOptions {
  return {
    config: requiredConfig(values),
    queues: typeof values.queues === 'string' ? parseQueues(values.queues) : undefined,
    name: typeof values.name === 'string' ? workerName(values.name) : undefined,
    shutdownTimeoutMs: wholeNumber(values, 'shutdown-timeout'),
    ...lockSettings(values),
    quiet: values.quiet === true,
    log: logSettings(values),
    ...metricsEndpoint(values),
  };
}

export async function runWorker(o: WorkerCommandOptions): Promise<number> {
  const logger = cliLogger(o.log);
  await loadConfig(o.config);
  // Loaded here: --help, --version and usage errors need neither BullMQ nor TypeORM.
  const { startWorker } = await import('../worker/worker.js');
  // Before the worker: a port in use or prom-client missing stops the command before it takes a job.
  if (o.metrics) {
    const { serveMetrics } = await import('../observe/metrics-server.js');
    const server = await serveMetrics(o.metrics);
    logger.info({ port: server.port, host: o.metrics.host }, 'metrics at /metrics');
  }
  // startWorker logs a 'worker started' line (queues, prefix) and, on SIGTERM/SIGINT, closes and exits 0.
  // Started by `deferred workers`: when the supervisor goes away (even killed), stop as on SIGTERM.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  await startWorker({
    queues: o.queues, name: o.name, shutdownTimeoutMs: o.shutdownTimeoutMs, lockDurationMs: o.lockDurationMs, stalledIntervalMs: o.stalledIntervalMs,
    handleSignals: true, verbose: !o.quiet, logger,
  });
  return new Promise<number>(() => undefined);
}
