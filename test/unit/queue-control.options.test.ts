import { describe, expect, it } from 'vitest';
import { isQueuePaused, pauseQueue, resumeQueue } from '../../src/index.js';
import { globalConcurrency, validateConcurrency } from '../../src/options.js';
import { resolveWorkerOptions } from '../../src/worker/worker-options.js';
import { failure, thrown } from '../assert.js';

describe('queues: { name: { concurrency, global } }', () => {
  it('reads the object form as that concurrency, 1 when left out, and keeps the global caps apart', () => {
    const queues = { high: 2, default: { concurrency: 3 }, low: { concurrency: 0, global: 1 } };
    expect(validateConcurrency(queues)).toEqual({ high: 2, default: 3, low: 0 });
    expect(validateConcurrency({ low: { global: 1 } })).toEqual({ high: 1, default: 1, low: 1 });
    expect(globalConcurrency(queues)).toEqual({ low: 1 });
    expect(globalConcurrency({ low: { concurrency: 1, global: false } })).toEqual({ low: false });
    expect(globalConcurrency({ high: 4 })).toEqual({});
  });

  it.each([
    [{ low: { concurrency: 1, global: 0 } }, 'queues.low.global', 'must be a whole number ≥ 1, or false'],
    [{ low: { concurrency: 1, global: 1.5 } }, 'queues.low.global', '1.5'],
    [{ low: { concurrency: 1, global: true } }, 'queues.low.global', 'true'],
    [{ low: { concurrency: -1, global: 1 } }, 'queues.low.concurrency', 'must be a whole number ≥ 0'],
    [{ low: { concurrency: 1, globl: 1 } }, 'queues.low.globl', 'is not a queue setting (known: concurrency, global)'],
    [{ low: [1] }, 'queues.low', 'or { concurrency, global }'],
    [{ high: 0, default: 0, low: { concurrency: 0, global: 1 } }, 'queues', 'consume no queue'],
  ])('refuses %j, naming %s', (queues, option, why) => {
    const err = thrown(() => resolveWorkerOptions({ queues: queues as never }));
    expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(err.details.option).toBe(option);
    expect(err.message).toContain(`Invalid option ${option}:`);
    expect(err.message).toContain(why);
  });
});

describe('startWorker({ limits })', () => {
  it('takes { max, durationMs } per queue, or false to remove a limit', () => {
    expect(resolveWorkerOptions({ limits: { low: { max: 10, durationMs: 1000 }, high: false } }).limits).toEqual({ low: { max: 10, durationMs: 1000 }, high: false });
    expect(resolveWorkerOptions({}).limits).toEqual({});
  });

  it.each([
    [{ low: { max: 0, durationMs: 1000 } }, 'limits.low.max', 'must be a whole number ≥ 1'],
    [{ low: { max: 10 } }, 'limits.low.durationMs', 'undefined must be a whole number ≥ 1'],
    [{ low: { max: 10, duration: 1000 } }, 'limits.low.duration', 'is not a rate limit setting (known: max, durationMs)'],
    [{ low: { max: '10', durationMs: 1000 } }, 'limits.low.max', '"10"'],
    [{ urgent: { max: 1, durationMs: 1 } }, 'limits.urgent', 'is not a queue'],
    [{ low: 10 }, 'limits.low', 'must be { max, durationMs } or false'],
    [[1], 'limits', 'must be an object'],
  ])('refuses %j, naming %s', (limits, option, why) => {
    const err = thrown(() => resolveWorkerOptions({ limits: limits as never }));
    expect(err.details.option).toBe(option);
    expect(err.message).toContain(`Invalid option ${option}:`);
    expect(err.message).toContain(why);
  });
});

describe('startWorker({ name })', () => {
  it('defaults to host:pid, and takes a name a Redis client name can hold', () => {
    expect(resolveWorkerOptions({}).name).toMatch(new RegExp(`^[A-Za-z0-9._\\-:@/]+:${process.pid}$`));
    expect(resolveWorkerOptions({ name: 'billing-1@host.example/2' }).name).toBe('billing-1@host.example/2');
  });

  it.each([[''], ['two words'], ['line\nbreak'], ['x'.repeat(101)], [42]])('refuses %j', (name) => {
    const err = thrown(() => resolveWorkerOptions({ name: name as never }));
    expect(err.details.option).toBe('name');
    expect(err.message).toContain('must be 1 to 100 letters, digits or . _ - : @ /');
  });
});

describe('pauseQueue / resumeQueue / isQueuePaused', () => {
  it.each([['urgent'], [undefined], [3]])('refuse the queue %j with DEFER_ERR_INVALID_OPTION naming it, before any Redis call', async (queue) => {
    for (const fn of [pauseQueue, resumeQueue, isQueuePaused]) {
      const err = await failure(fn(queue as never));
      expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
      expect(err.details).toEqual({ option: 'queue', value: queue });
      expect(err.message).toBe(`Invalid option queue: ${queue === 'urgent' ? '"urgent"' : String(queue)} must be one of high, default, low`);
    }
  });
});
