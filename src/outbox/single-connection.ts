import type { DataSource } from 'typeorm';
import { currentJob } from '../worker/context.js';

// better-sqlite3 and its kin have one connection: two transactions on it at once collide.
const SINGLE_CONNECTION_DRIVERS = new Set(['better-sqlite3', 'sqljs', 'capacitor', 'cordova', 'expo', 'nativescript', 'react-native']);
const queues = new WeakMap<DataSource, Promise<unknown>>();

/** True for a data source whose driver has one connection for everything. */
export function isSingleConnection(dataSource: DataSource): boolean {
  return SINGLE_CONNECTION_DRIVERS.has(dataSource.options.type);
}

/** Runs `fn` alone on a single-connection data source (after what was queued before it), at once on the others. */
export function serialized<T>(dataSource: DataSource, fn: () => Promise<T>): Promise<T> {
  if (!isSingleConnection(dataSource)) return fn();
  const previous = queues.get(dataSource) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  queues.set(dataSource, next.catch(() => undefined));
  return next;
}

/**
 * Runs one of the library's own statements outside any job's transaction: on a single-connection
 * data source a statement sent while an in-process job holds the connection would join that job's
 * transaction and vanish if it rolled back, so it waits its turn, unless it comes from that very job.
 */
export function outsideJobs<T>(dataSource: DataSource, fn: () => Promise<T>): Promise<T> {
  return currentJob()?.dataSource === dataSource ? fn() : serialized(dataSource, fn);
}
