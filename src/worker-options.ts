import type { ConnectionSetting } from './config.js';
import type { QueueConcurrency } from './options.js';
import type { RelayOptions } from './relay.js';

/** What a worker reports: one line per finished job, and worker-level errors. */
export interface WorkerLogger {
  info(message: string): void;
  error(message: string, err?: unknown): void;
}

/**
 * Options of {@link startWorker}.
 *
 * @example
 * ```ts
 * await startWorker({ queues: { high: 4, default: 2, low: 1 }, shutdownTimeoutMs: 10_000 })
 * ```
 */
export interface WorkerOptions {
  /** Concurrency per queue; 0 leaves a queue to other processes. @defaultValue `{ high: 1, default: 1, low: 1 }` */
  queues?: QueueConcurrency;
  /** Redis for this worker. @defaultValue the `configure()` connection */
  connection?: ConnectionSetting;
  /** How long `close()` lets active jobs finish before aborting them. @defaultValue `30000` */
  shutdownTimeoutMs?: number;
  /** Close on SIGTERM/SIGINT and exit 0 (the CLI does this). @defaultValue `false` */
  handleSignals?: boolean;
  /** Minimum ms between two progress writes of one job. @defaultValue `200` */
  progressIntervalMs?: number;
  /** Where worker-level errors and (with `verbose`) job outcomes go. @defaultValue errors to `console.error` */
  logger?: WorkerLogger;
  /** Log a line per finished job. @defaultValue `false` */
  verbose?: boolean;
  /**
   * The relay that pushes recorded jobs which never reached Redis (see DeferredJobRecord), and on
   * the same rounds finishes rows whose BullMQ job ended without a worker to record it;
   * `false` turns both off. @defaultValue `{ intervalMs: 5000, olderThanMs: 5000, leaseMs: 60000 }`
   */
  relay?: false | (Omit<RelayOptions, 'dataSource'> & { intervalMs?: number });
  /** Delete finished job rows older than this (ms), on the relay's rounds. @defaultValue keep them */
  recordRetentionMs?: number;
}
