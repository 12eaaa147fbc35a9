import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { outageDelay, putBackCount } from '../../src/worker/outage.js';

const OUTAGE = { retries: 5, delayMs: 1_000, maxDelayMs: 10_000 };
/** The counters BullMQ keeps on a job, as the worker reads them when it starts the job. */
const job = (attemptsStarted: number, attemptsMade = 0, stalledCounter = 0) => ({ attemptsStarted, attemptsMade, stalledCounter }) as Job;

describe('putBackCount()', () => {
  it('counts the starts that ended neither in a failure nor in a stall', () => {
    expect(putBackCount(job(1))).toBe(0);
    expect(putBackCount(job(4))).toBe(3);
    expect(putBackCount(job(4, 1))).toBe(2);
    expect(putBackCount(job(4, 1, 2))).toBe(0);
  });
});

describe('outageDelay()', () => {
  it('doubles from delayMs, within ±20 %', () => {
    for (const [starts, base] of [[1, 1_000], [2, 2_000], [3, 4_000], [4, 8_000]] as const) {
      const d = outageDelay(job(starts), OUTAGE)!;
      expect(d).toBeGreaterThanOrEqual(base * 0.8);
      expect(d).toBeLessThanOrEqual(base * 1.2);
    }
  });

  it('stops growing at maxDelayMs', () => {
    expect(outageDelay(job(5), OUTAGE)).toBeLessThanOrEqual(12_000);
  });

  it('is undefined once the job was put back `retries` times', () => {
    expect(outageDelay(job(6), OUTAGE)).toBeUndefined();
    expect(outageDelay(job(1), { ...OUTAGE, retries: 0 })).toBeUndefined();
  });
});
