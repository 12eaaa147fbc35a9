import { InstanceChecker, type DataSource } from 'typeorm';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Telemetry } from 'bullmq';
import { watchTransactions } from './outbox/after-commit.js';
import { DeferralError } from './errors.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, nameProblem } from './limits.js';
import { QUEUE_NAMES, show, validateConcurrency, validateOptions, type DeferredOptions, type QueueConcurrency, type QueueName } from './options.js';
import type { CallInfo, Uid } from './call/call.js';
import type { MetricsSetting } from './observe/metrics.js';
import { checkScheduleName, checkScheduleOptions, checkWhen, type ScheduleDeclaration } from './schedule/schedule-spec.js';

/** Where Redis is: a URL, ioredis options, or an ioredis client that you own and close. */
export type ConnectionSetting = string | RedisOptions | Redis | Cluster;

/**
 * What `configure()` takes, once per process (web app and worker alike).
 *
 * @example
 * ```ts
 * configure({ dataSources: { main: dataSource }, authorize: (uid, call) => uid !== 'guest' })
 * ```
 */
export interface DeferredConfig {
  /** Redis. @defaultValue `process.env.REDIS_URL`, else `'redis://127.0.0.1:6379'` */
  connection?: ConnectionSetting;
  /** BullMQ key prefix; use a `{hash-tag}` on Redis Cluster. @defaultValue `'deferred'` */
  prefix?: string;
  /**
   * A key prefix per queue, for the BullMQ keys of that queue only (the library's own keys, such as
   * cancel marks, stay under `prefix`). On Redis Cluster give each a different `{hash tag}` to spread
   * the queues over the masters, e.g. `{ high: '{dq-high}', default: '{dq-default}', low: '{dq-low}' }`.
   * Every process (web app, workers, CLI, dashboard) must use the same ones. @defaultValue `prefix` for each queue
   */
  queuePrefixes?: Partial<Record<QueueName, string>>;
  /** Data sources by name; payloads carry the name, so use the same names in every process. */
  dataSources: Record<string, DataSource>;
  /** Checked in the worker before each call runs; `false` fails the job with DEFER_ERR_NOT_AUTHORIZED. @defaultValue allow all */
  authorize?: (uid: Uid, call: CallInfo) => boolean | Promise<boolean>;
  /** Options every call starts from; `DeferredType()` options and variants override them. @defaultValue `{}` */
  defaults?: DeferredOptions;
  /**
   * The largest payload (method, ids and encoded arguments, as JSON bytes) a call may have; a larger
   * one is refused at enqueue with DEFER_ERR_PAYLOAD_TOO_LARGE. With a job table on MySQL/MariaDB the
   * limit is at most 65 535 bytes, what its `text` column holds. @defaultValue `524288` (512 KiB)
   */
  maxPayloadBytes?: number;
  /**
   * Prometheus metrics (`deferred_*`) through prom-client, when it is installed: into its default
   * registry, or `{ registry }`; `false` turns them off. @defaultValue `{}` (prom-client's default registry)
   */
  metrics?: MetricsSetting;
  /** BullMQ's own OpenTelemetry integration (e.g. `new BullMQOtel('app')` from bullmq-otel), passed to its queues and workers. */
  telemetry?: Telemetry;
  /**
   * The worker processes `deferred workers` runs and supervises: per entry, `processes` children
   * (default 1), each a worker with these `queues` (as `startWorker({ queues })`). @defaultValue `[]`
   */
  workers?: WorkerGroup[];
  /**
   * Schedules by name. A worker started with this configuration makes the stored schedules match
   * them (added, changed, and those no longer declared here removed; schedules made by `schedule()`
   * stay). Leave it out to have workers leave the stored schedules alone.
   */
  schedules?: Record<string, ScheduleDeclaration>;
}

/** One entry of `workers`: `processes` worker processes with the same queues. */
export interface WorkerGroup {
  queues: QueueConcurrency;
  /** @defaultValue `1` */
  processes?: number;
}

/** The configuration after checks, as the rest of the library sees it. */
export interface ResolvedConfig extends Required<Pick<DeferredConfig, 'prefix' | 'dataSources' | 'maxPayloadBytes' | 'metrics'>> {
  connection: ConnectionSetting;
  /** The BullMQ key prefix of each queue: `queuePrefixes`, else `prefix`. */
  queuePrefixes: Readonly<Record<QueueName, string>>;
  telemetry?: Telemetry;
  authorize?: DeferredConfig['authorize'];
  defaults: Readonly<DeferredOptions>;
  workers: Array<{ queues: QueueConcurrency; processes: number }>;
  schedules?: Readonly<Record<string, ScheduleDeclaration>>;
}

let current: ResolvedConfig | undefined;
const resetHooks = new Set<() => Promise<void>>();


function bad(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid configure() option ${option}: ${why}`, { option, value });
}

/** Checks a configuration and fills in its defaults. */
export function resolveConfig(config: DeferredConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) throw bad('config', config, 'configure() takes an object');
  const { dataSources, prefix = 'deferred', authorize, connection } = config;
  if (typeof dataSources !== 'object' || dataSources === null) throw bad('dataSources', dataSources, 'must map names to TypeORM DataSources');
  for (const [name, ds] of Object.entries(dataSources)) {
    if (!InstanceChecker.isDataSource(ds)) throw bad(`dataSources.${name}`, ds, 'is not a TypeORM DataSource');
    const problem = nameProblem(name);
    if (problem) throw bad(`dataSources[${show(name)}]`, name, `a data source name ${problem}`);
  }
  const prefixProblem = nameProblem(prefix);
  if (prefixProblem) throw bad('prefix', prefix, prefixProblem);
  const queuePrefixes = resolveQueuePrefixes(config.queuePrefixes, prefix);
  if (connection !== undefined) checkConnection(connection, prefix, 'connection', queuePrefixes);
  if (authorize !== undefined && typeof authorize !== 'function') throw bad('authorize', authorize, 'must be a function (uid, call) => boolean');
  const { maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES } = config;
  if (!(Number.isSafeInteger(maxPayloadBytes) && maxPayloadBytes > 0)) throw bad('maxPayloadBytes', maxPayloadBytes, 'must be a whole number of bytes > 0');
  const { metrics = {}, telemetry } = config;
  if (metrics !== false && (typeof metrics !== 'object' || metrics === null
    || (metrics.registry !== undefined && typeof (metrics.registry as { metrics?: unknown } | null)?.metrics !== 'function'))) {
    throw bad('metrics', metrics, 'must be false or { registry?: a prom-client Registry }');
  }
  return {
    dataSources: { ...dataSources },
    prefix,
    queuePrefixes,
    authorize,
    connection: connection ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    defaults: validateOptions(config.defaults),
    maxPayloadBytes,
    metrics,
    ...(telemetry ? { telemetry } : {}),
    workers: checkWorkers(config.workers),
    ...(config.schedules !== undefined ? { schedules: checkSchedules(config.schedules) } : {}),
  };
}

/** True for a prefix with a `{hash tag}`: on Redis Cluster, every key of a queue then hashes to one slot. */
const hashTagged = (prefix: string) => /\{[^{}]+\}/.test(prefix);

/** `queuePrefixes`: known queue names to prefixes checked like `prefix`; every queue not named gets `prefix`. */
function resolveQueuePrefixes(given: unknown, prefix: string): Record<QueueName, string> {
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw bad('queuePrefixes', given, "must map queue names to key prefixes, e.g. { high: '{dq-high}', default: '{dq-default}', low: '{dq-low}' }");
  }
  const byQueue = (given ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(byQueue).find((q) => !QUEUE_NAMES.includes(q as QueueName));
  if (unknown !== undefined) throw bad(`queuePrefixes[${show(unknown)}]`, unknown, `is not a queue: the queues are ${QUEUE_NAMES.join(', ')}`);
  return Object.fromEntries(QUEUE_NAMES.map((q) => {
    const p = byQueue[q] ?? prefix;
    const problem = nameProblem(p);
    if (problem) throw bad(`queuePrefixes.${q}`, p, problem);
    return [q, p as string];
  })) as Record<QueueName, string>;
}

/**
 * Refuses, with DEFER_ERR_INVALID_OPTION, a connection that is none of a URL, ioredis options, a
 * Redis or a Cluster (anything else would be taken for options and connect to 127.0.0.1:6379), and a
 * Cluster with a prefix, or a queue prefix (`queuePrefixes`), that has no hash tag (BullMQ's scripts
 * would fail with CROSSSLOT).
 */
export function checkConnection(connection: unknown, prefix: string, option = 'connection', queuePrefixes: Partial<Record<QueueName, string>> = {}): void {
  if (typeof connection === 'string' || connection instanceof Redis) return;
  if (connection instanceof Cluster) {
    const prefixes = [{ option: 'prefix', p: prefix, kind: 'a prefix', fallback: 'deferred' },
      ...Object.entries(queuePrefixes).map(([queue, p]) => ({ option: `queuePrefixes.${queue}`, p, kind: 'a queue prefix', fallback: queue }))];
    for (const { option: name, p, kind, fallback } of prefixes) {
      if (!hashTagged(p)) throw bad(name, p, `${JSON.stringify(p)} has no {hash tag}: on Redis Cluster every key of a queue must hash to one slot, so give ${kind} such as '{${p.replace(/[{}]/g, '') || fallback}}' (configure({ ${name.split('.')[0]} }))`);
    }
    return;
  }
  const proto = typeof connection === 'object' && connection !== null ? Object.getPrototypeOf(connection) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    const kind = typeof connection === 'object' && connection !== null ? (connection.constructor as { name?: string } | undefined)?.name ?? 'object' : typeof connection;
    if (kind === 'Redis' || kind === 'Cluster') throw bad(option, kind, `this ${kind} comes from another copy of ioredis than the library's: keep one copy installed (npm ls ioredis, npm dedupe)`);
    throw bad(option, kind, `the ${kind} given is not a Redis connection: give a redis:// URL, ioredis options, an ioredis Redis or an ioredis Cluster`);
  }
}

/** `workers`: a list of `{ queues, processes? }`, each checked as startWorker() and the CLI would. */
function checkWorkers(workers: unknown): ResolvedConfig['workers'] {
  if (workers === undefined) return [];
  if (!Array.isArray(workers)) throw bad('workers', workers, 'must be a list like [{ queues: { default: 2 }, processes: 2 }]');
  return workers.map((group: unknown, i) => {
    const { queues, processes = 1 } = (group ?? {}) as WorkerGroup;
    if (typeof group !== 'object' || group === null || typeof queues !== 'object' || queues === null) throw bad(`workers[${i}]`, group, 'must be { queues: { high?, default?, low? }, processes? }');
    validateConcurrency(queues);
    if (!(Number.isSafeInteger(processes) && processes >= 1 && processes <= 64)) throw bad(`workers[${i}].processes`, processes, 'must be a whole number from 1 to 64');
    return { queues, processes };
  });
}

/** `schedules`: names to `{ when, target, options? }`, checked as far as can be without Redis (the target is built when a worker syncs). */
function checkSchedules(schedules: unknown): Readonly<Record<string, ScheduleDeclaration>> {
  if (typeof schedules !== 'object' || schedules === null || Array.isArray(schedules)) throw bad('schedules', schedules, "must map names to { when, target, options? }, e.g. { heartbeat: { when: { every: 5000 }, target: { task: 'heartbeat' } } }");
  for (const [name, d] of Object.entries(schedules as Record<string, unknown>)) {
    checkScheduleName(name);
    const { when, target, options } = (d ?? {}) as Partial<ScheduleDeclaration>;
    if (typeof d !== 'object' || d === null || typeof target !== 'object' || target === null) throw bad(`schedules.${name}`, d, 'must be { when, target, options? }');
    checkWhen(name, when);
    checkScheduleOptions(name, options);
  }
  return { ...(schedules as Record<string, ScheduleDeclaration>) };
}

/**
 * Configures this process. Call it once, before `Deferred()` or `startWorker()`;
 * calling it again replaces the configuration and closes the old Redis clients.
 *
 * @example
 * ```ts
 * configure({ connection: process.env.REDIS_URL, dataSources: { main: AppDataSource } })
 * ```
 */
export function configure(config: DeferredConfig): void {
  const next = resolveConfig(config);
  if (current) void closeDeferred().catch(() => undefined);
  // Jobs deferred inside a transaction are pushed when it commits: the data sources tell us when.
  for (const ds of Object.values(next.dataSources)) watchTransactions(ds);
  current = next;
}

/**
 * Returns its argument, typed: the default export of a config module for the CLI's `--config`.
 *
 * @example
 * ```ts
 * export default defineConfig({ dataSources: { main: AppDataSource } })
 * ```
 */
export function defineConfig(config: DeferredConfig): DeferredConfig {
  resolveConfig(config);
  return config;
}

/** The active configuration, or DEFER_ERR_NOT_CONFIGURED. */
export function getConfig(): ResolvedConfig {
  if (!current) throw new DeferralError('DEFER_ERR_NOT_CONFIGURED', 'typeorm-deferred is not configured in this process: call configure({ dataSources }) first (also after closeDeferred())');
  return current;
}

/** Lets a module that keeps per-configuration resources (queues, clients) close them on reconfigure. */
export function onReset(hook: () => Promise<void>): void {
  resetHooks.add(hook);
}

/**
 * Closes the producer-side queues and Redis clients this process opened and ends the
 * configuration: until `configure()` is called again, every call (handles included) fails
 * with DEFER_ERR_NOT_CONFIGURED. Idempotent; every step runs even if one fails.
 * Workers are closed by their own `close()`.
 *
 * @example
 * ```ts
 * process.on('SIGTERM', () => closeDeferred().then(() => process.exit(0)))
 * ```
 */
export async function closeDeferred(): Promise<void> {
  // Forget the configuration first: a handle still polling must fail, not reopen a connection that keeps the process alive.
  current = undefined;
  const results = await Promise.allSettled([...resetHooks].map((hook) => hook()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
