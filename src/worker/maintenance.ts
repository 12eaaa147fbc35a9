import { getConfig } from '../config.js';
import { asError } from '../observe/logger.js';
import { reconcileRecords } from '../outbox/reconcile.js';
import { pruneJobs, recordingSources, recordsEnabled } from '../outbox/records.js';
import { relayPendingJobs } from '../outbox/relay.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/**
 * Starts a worker's maintenance rounds, where some data source records jobs: the relay (rows that
 * never reached Redis), the reconciliation (rows whose BullMQ job finished without them) and the
 * row retention. A failed round (database or Redis down) is logged and the next one runs as usual.
 * Returns `stop()`, which waits for a round under way.
 */
export function startMaintenance(o: ResolvedWorkerOptions): () => Promise<void> {
  const recording = Object.values(getConfig().dataSources).some(recordsEnabled);
  if (!recording || o.relay === false) return async () => undefined;
  const { intervalMs = 5_000, ...relayOptions } = o.relay ?? {};
  const round = async () => {
    await relayPendingJobs(relayOptions);
    for (const ds of recordingSources()) {
      await reconcileRecords(ds, { olderThanMs: relayOptions.leaseMs });
      if (o.recordRetentionMs !== undefined) await pruneJobs({ olderThanMs: o.recordRetentionMs, dataSource: ds });
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = () => {
    current = round().catch((err: unknown) => o.logger.error({ err: asError(err) }, 'maintenance round failed (relay, reconciliation, retention); the next one runs as usual'));
    void current.then(() => { if (timer) timer = setTimeout(tick, intervalMs); });
  };
  timer = setTimeout(tick, Math.min(intervalMs, 1_000));
  return async () => {
    clearTimeout(timer);
    timer = undefined;
    await current;
  };
}
