import { getConfig } from '../config.js';
import type { Logger } from '../observe/logger.js';
import { asError } from '../observe/logger.js';
import { producerRedis } from '../queues.js';
import type { ScheduleDeclaration } from './schedule-spec.js';
import { schedulesKey } from './schedule-store.js';
import { syncSchedules } from './sync.js';

/** How often a worker checks that the declared schedules are still in Redis. */
export const DECLARED_CHECK_MS = 10_000;

/**
 * Keeps the declared schedules in Redis while the worker runs: a Redis restarted without
 * persistence, or a schedule removed by hand, loses them, and only a worker start wrote them. One
 * HMGET every {@link DECLARED_CHECK_MS}, and one when the connection comes back; the sync runs
 * only when a declared name is missing. Returns `stop()`.
 */
export function keepDeclaredSchedules(declared: Readonly<Record<string, ScheduleDeclaration>>, logger: Logger): () => Promise<void> {
  const names = Object.keys(declared);
  if (names.length === 0) return async () => undefined;
  const redis = producerRedis();
  let current: Promise<unknown> = Promise.resolve();
  const check = async () => {
    const stored = await redis.hmget(schedulesKey(getConfig().prefix), ...names);
    const missing = names.filter((_, i) => stored[i] === null);
    if (missing.length === 0) return;
    await syncSchedules(declared);
    logger.warn({ missing }, 'declared schedules were missing from Redis (restarted without persistence, or removed by hand): written again');
  };
  const run = () => {
    current = current.then(check).catch((err: unknown) => logger.error({ err: asError(err) }, 'could not check the declared schedules; the next check runs as usual'));
  };
  const timer = setInterval(run, DECLARED_CHECK_MS);
  timer.unref();
  redis.on('ready', run);
  return async () => {
    clearInterval(timer);
    redis.off('ready', run);
    await current;
  };
}
