import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deleteKeys, openRedis } from './services.js';

/**
 * Owns what one bench run shares: a control Redis client and the key prefixes
 * it hands out, all under `bench-<run id>-` so the run can check nothing is left.
 */
export class BenchContext {
  readonly runId = randomUUID().slice(0, 8);
  readonly control: Redis = openRedis();
  private counter = 0;
  private readonly live = new Set<string>();

  /** A fresh BullMQ key prefix for one trial. */
  newPrefix(label: string): string {
    const prefix = `bench-${this.runId}-${String(++this.counter).padStart(3, '0')}-${label}`;
    this.live.add(prefix);
    return prefix;
  }

  /** Deletes a trial's keys (SCAN + DEL). */
  async dropPrefix(prefix: string): Promise<void> {
    await deleteKeys(this.control, `${prefix}:*`);
    this.live.delete(prefix);
  }

  /** Deletes whatever this run left under its prefixes; returns how many keys that was. */
  async dropAll(): Promise<number> {
    for (const p of this.live) await this.dropPrefix(p);
    return deleteKeys(this.control, `bench-${this.runId}-*`);
  }

  /** Counts the keys of this run still in Redis. */
  async leftovers(): Promise<number> {
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await this.control.scan(cursor, 'MATCH', `bench-${this.runId}-*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  }

  async close(): Promise<void> {
    await this.control.quit().catch(() => this.control.disconnect());
  }
}
