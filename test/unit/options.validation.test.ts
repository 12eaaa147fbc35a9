import { describe, expect, it } from 'vitest';
import { thrown } from '../assert.js';
import { DeferralError } from '../../src/errors.js';
import {
  DeferredType,
  HighPriorityDeferredType,
  LowPriorityDeferredType,
  type DeferredOptions,
} from '../../src/index.js';
import { delayOf, mergeOptions, validateConcurrency, validateOptions } from '../../src/options.js';
import { resolveWorkerOptions } from '../../src/worker/worker-options.js';

/** Runs `fn`, expects a DEFER_ERR_INVALID_OPTION and returns it. */
function refusal(fn: () => unknown): DeferralError {
  const err = thrown(fn);
  expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
  return err;
}

/** Expects validateOptions(options) to refuse, naming `option` and every string in `mentions`. */
function expectRefused(options: unknown, option: string, ...mentions: string[]): DeferralError {
  const err = refusal(() => validateOptions(options));
  expect(err.message).toContain(option);
  for (const m of mentions) expect(err.message).toContain(m);
  expect(err.details.option).toBe(option);
  return err;
}

describe('validateOptions()', () => {
  describe('countdown and eta', () => {
    it('refuses countdown and eta together, naming both', () => {
      const err = expectRefused({ countdown: 10, eta: new Date(Date.now() + 1000) }, 'countdown', '10', 'eta');
      expect(err.details.value).toBe(10);
    });

    it('refuses a negative countdown', () => {
      expectRefused({ countdown: -1 }, 'countdown', '-1');
    });

    it('refuses a NaN countdown', () => {
      expectRefused({ countdown: NaN }, 'countdown', 'NaN');
    });

    it('refuses an infinite countdown', () => {
      expectRefused({ countdown: Infinity }, 'countdown', 'Infinity');
      expectRefused({ countdown: -Infinity }, 'countdown', '-Infinity');
    });

    it('refuses a countdown that is not a number', () => {
      expectRefused({ countdown: '10' }, 'countdown', '"10"');
    });

    it('accepts countdown 0 and fractional seconds', () => {
      expect(validateOptions({ countdown: 0 })).toEqual({ countdown: 0 });
      expect(validateOptions({ countdown: 1.5 })).toEqual({ countdown: 1.5 });
    });

    it('refuses an unparsable eta string', () => {
      expectRefused({ eta: 'next tuesday-ish' }, 'eta', '"next tuesday-ish"');
    });

    it('refuses an Invalid Date eta', () => {
      expectRefused({ eta: new Date('nope') }, 'eta', 'Invalid Date');
    });

    it('refuses a non-finite or non-date eta', () => {
      expectRefused({ eta: NaN }, 'eta', 'NaN');
      expectRefused({ eta: Infinity }, 'eta', 'Infinity');
      expectRefused({ eta: true }, 'eta', 'true');
      expectRefused({ eta: { at: 1 } }, 'eta', '{"at":1}');
    });

    it('accepts an eta as Date, ISO string or epoch ms', () => {
      const d = new Date('2030-01-01T00:00:00Z');
      expect(validateOptions({ eta: d }).eta).toBe(d);
      expect(validateOptions({ eta: '2030-01-01T00:00:00Z' }).eta).toBe('2030-01-01T00:00:00Z');
      expect(validateOptions({ eta: d.getTime() }).eta).toBe(d.getTime());
    });
  });

  describe('queue and unknown keys', () => {
    it('refuses an unknown queue', () => {
      expectRefused({ queue: 'urgent' }, 'queue', '"urgent"');
    });

    it('refuses a non-string queue', () => {
      expectRefused({ queue: 1 }, 'queue', '1');
    });

    it('names an unknown option key (a typo) and its value', () => {
      const err = expectRefused({ contdown: 5 }, 'contdown', '5');
      // the known names are listed, so the typo is easy to spot
      expect(err.message).toContain('countdown');
    });

    it('refuses options that are not an object', () => {
      refusal(() => validateOptions(null));
      refusal(() => validateOptions('fast'));
      refusal(() => validateOptions([{ queue: 'high' }]));
      refusal(() => validateOptions(3));
    });
  });

  describe('booleans', () => {
    for (const key of ['allowNested', 'transaction', 'skipMissing']) {
      it(`refuses a non-boolean ${key}`, () => {
        expectRefused({ [key]: 'yes' }, key, '"yes"');
        expectRefused({ [key]: 1 }, key, '1');
        expectRefused({ [key]: null }, key, 'null');
      });

      it(`accepts ${key} true and false`, () => {
        expect(validateOptions({ [key]: true })).toEqual({ [key]: true });
        expect(validateOptions({ [key]: false })).toEqual({ [key]: false });
      });
    }
  });

  describe('priority and attempts', () => {
    it('refuses priority 0', () => {
      expectRefused({ priority: 0 }, 'priority', '0');
    });

    it('refuses priority 1.5', () => {
      expectRefused({ priority: 1.5 }, 'priority', '1.5');
    });

    it('refuses priority 2097153', () => {
      expectRefused({ priority: 2_097_153 }, 'priority', '2097153');
    });

    it('accepts priority 1 and 2097152', () => {
      expect(validateOptions({ priority: 1 }).priority).toBe(1);
      expect(validateOptions({ priority: 2_097_152 }).priority).toBe(2_097_152);
    });

    it('refuses attempts 0', () => {
      expectRefused({ attempts: 0 }, 'attempts', '0');
    });

    it('refuses attempts 1.5', () => {
      expectRefused({ attempts: 1.5 }, 'attempts', '1.5');
    });

    it('refuses non-numeric attempts', () => {
      expectRefused({ attempts: '3' }, 'attempts', '"3"');
    });
  });

  describe('backoff', () => {
    const bad: Array<[string, unknown, string]> = [
      ['a negative number', -5, '-5'],
      ['Infinity', Infinity, 'Infinity'],
      ['a string', '1000', '"1000"'],
      ['null', null, 'null'],
      ['an unknown type', { type: 'linear', delay: 100 }, '"linear"'],
      ['a missing delay', { type: 'fixed' }, '"fixed"'],
      ['a negative delay', { type: 'exponential', delay: -1 }, '-1'],
      ['a string delay', { type: 'fixed', delay: '100' }, '"100"'],
      ['jitter above 1', { type: 'exponential', delay: 100, jitter: 2 }, '"jitter":2'],
      ['negative jitter', { type: 'exponential', delay: 100, jitter: -0.1 }, '-0.1'],
      ['an array', [100], '[100]'],
    ];
    for (const [what, value, shown] of bad) {
      it(`refuses ${what}`, () => {
        expectRefused({ backoff: value }, 'backoff', shown);
      });
    }

    it('accepts ms and { type, delay, jitter }', () => {
      expect(validateOptions({ backoff: 0 }).backoff).toBe(0);
      expect(validateOptions({ backoff: 500 }).backoff).toBe(500);
      expect(validateOptions({ backoff: { type: 'fixed', delay: 100 } }).backoff).toEqual({ type: 'fixed', delay: 100 });
      expect(validateOptions({ backoff: { type: 'exponential', delay: 100, jitter: 0.5 } }).backoff)
        .toEqual({ type: 'exponential', delay: 100, jitter: 0.5 });
    });
  });

  describe('jobId', () => {
    it("refuses a jobId with ':'", () => {
      expectRefused({ jobId: 'invoice:42' }, 'jobId', '"invoice:42"', ':');
    });

    it("refuses an integer-like jobId '42'", () => {
      expectRefused({ jobId: '42' }, 'jobId', '"42"');
    });

    it('refuses an empty jobId', () => {
      expectRefused({ jobId: '' }, 'jobId', '""');
    });

    it('refuses a numeric jobId', () => {
      expectRefused({ jobId: 42 }, 'jobId', '42');
    });

    it('accepts a plain string jobId', () => {
      expect(validateOptions({ jobId: 'invoice-42' }).jobId).toBe('invoice-42');
    });

    it('refuses a jobId longer than 128 characters, and cuts it in the message', () => {
      const err = expectRefused({ jobId: 'j'.repeat(10_000) }, 'jobId', 'at most 128 characters', '10000');
      expect(err.message.length).toBeLessThan(300);
      expect(validateOptions({ jobId: 'j'.repeat(128) }).jobId).toHaveLength(128);
    });

    it('refuses a jobId with a control character (NUL, newline, DEL)', () => {
      for (const jobId of ['a\u0000b', 'a\nb', 'a\u007fb']) expectRefused({ jobId }, 'jobId', 'control characters');
    });
  });

  describe('timeout', () => {
    it('refuses timeout 0', () => {
      expectRefused({ timeout: 0 }, 'timeout', '0');
    });

    it('refuses a negative timeout', () => {
      expectRefused({ timeout: -100 }, 'timeout', '-100');
    });

    it('refuses a non-finite timeout', () => {
      expectRefused({ timeout: NaN }, 'timeout', 'NaN');
      expectRefused({ timeout: Infinity }, 'timeout', 'Infinity');
    });
  });

  describe('retention', () => {
    for (const key of ['removeOnComplete', 'removeOnFail']) {
      const bad: Array<[string, unknown, string]> = [
        ['a negative count', -1, '-1'],
        ['a fractional count', 1.5, '1.5'],
        ['a string', 'yes', '"yes"'],
        ['an empty object', {}, '{}'],
        ['an unknown key', { ttl: 10 }, '{"ttl":10}'],
        ['a negative age', { age: -1 }, '{"age":-1}'],
        ['a fractional count in the object', { age: 10, count: 2.5 }, '"count":2.5'],
        ['an array', [1], '[1]'],
        ['null', null, 'null'],
      ];
      for (const [what, value, shown] of bad) {
        it(`refuses ${key} as ${what}`, () => {
          expectRefused({ [key]: value }, key, shown);
        });
      }

      it(`accepts ${key} as boolean, count, { age, count } and { count }`, () => {
        for (const v of [true, false, 0, 10, { age: 60 }, { age: 60, count: 5 }, { count: 5 }]) {
          expect(validateOptions({ [key]: v })).toEqual({ [key]: v });
        }
      });
    }
  });

  describe('valid options', () => {
    const full: DeferredOptions = {
      queue: 'low',
      countdown: 30,
      allowNested: true,
      priority: 10,
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      jobId: 'nightly-report',
      timeout: 60_000,
      transaction: false,
      skipMissing: true,
      removeOnComplete: { age: 3600, count: 100 },
      removeOnFail: 50,
    };

    it('pass and come back equal and frozen', () => {
      const out = validateOptions(full);
      expect(out).toEqual(full);
      expect(Object.isFrozen(out)).toBe(true);
    });

    it('are copied, not the caller object frozen', () => {
      const input = { queue: 'high' as const };
      const out = validateOptions(input);
      expect(out).not.toBe(input);
      expect(Object.isFrozen(input)).toBe(false);
    });

    it('undefined and {} give a frozen empty object', () => {
      expect(validateOptions(undefined)).toEqual({});
      expect(Object.isFrozen(validateOptions(undefined))).toBe(true);
      expect(Object.isFrozen(validateOptions({}))).toBe(true);
    });

    it('undefined values count as absent', () => {
      expect(() => validateOptions({ countdown: undefined, eta: '2030-01-01T00:00:00Z', queue: undefined })).not.toThrow();
    });
  });
});

describe('DeferredType() and its variants refuse at call time', () => {
  it('DeferredType() throws DEFER_ERR_INVALID_OPTION without configure()', () => {
    const err = refusal(() => DeferredType({ countdown: -3 }));
    expect(err.message).toContain('countdown');
    expect(err.message).toContain('-3');
  });

  it('DeferredType() refuses countdown and eta together', () => {
    const err = refusal(() => DeferredType({ countdown: 5, eta: Date.now() + 5000 }));
    expect(err.message).toContain('countdown');
    expect(err.message).toContain('eta');
  });

  it('DeferredType() refuses an unknown queue', () => {
    const err = refusal(() => DeferredType({ queue: 'urgent' } as unknown as DeferredOptions));
    expect(err.message).toContain('queue');
    expect(err.message).toContain('"urgent"');
  });

  it('DeferredType() with valid options returns a function without configure()', () => {
    expect(typeof DeferredType({ queue: 'high', attempts: 2 })).toBe('function');
  });

  it("HighPriorityDeferredType({ queue: 'low' }) throws DEFER_ERR_INVALID_OPTION", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const err = refusal(() => HighPriorityDeferredType({ queue: 'low' } as any));
    expect(err.message).toContain('queue');
    expect(err.message).toContain('"low"');
  });

  it("LowPriorityDeferredType({ queue: 'high' }) throws DEFER_ERR_INVALID_OPTION", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    refusal(() => LowPriorityDeferredType({ queue: 'high' } as any));
  });

  it('the priority variants validate their other options too', () => {
    refusal(() => HighPriorityDeferredType({ attempts: 0 }));
    refusal(() => LowPriorityDeferredType({ timeout: -1 }));
  });
});

describe('mergeOptions()', () => {
  it('later layers win', () => {
    expect(mergeOptions({ queue: 'low', attempts: 2 }, { attempts: 5 }, { priority: 3 }))
      .toEqual({ queue: 'low', attempts: 5, priority: 3 });
  });

  it('skips undefined layers and undefined values', () => {
    expect(mergeOptions(undefined, { attempts: 2 }, { attempts: undefined }, undefined)).toEqual({ attempts: 2 });
  });

  it('a later countdown removes an earlier eta', () => {
    const out = mergeOptions({ eta: '2030-01-01T00:00:00Z', queue: 'high' }, { countdown: 10 });
    expect(out).toEqual({ countdown: 10, queue: 'high' });
    expect('eta' in out).toBe(false);
  });

  it('a later eta removes an earlier countdown', () => {
    const eta = new Date('2030-01-01T00:00:00Z');
    const out = mergeOptions({ countdown: 10 }, { eta });
    expect(out).toEqual({ eta });
    expect('countdown' in out).toBe(false);
  });

  it('does not modify its layers', () => {
    const a = Object.freeze({ countdown: 10 });
    const b = Object.freeze({ eta: 0 });
    mergeOptions(a, b);
    expect(a).toEqual({ countdown: 10 });
    expect(b).toEqual({ eta: 0 });
  });
});

describe('delayOf()', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');

  it('is 0 without countdown or eta', () => {
    expect(delayOf({}, now)).toBe(0);
  });

  it('turns countdown seconds into ms', () => {
    expect(delayOf({ countdown: 0 }, now)).toBe(0);
    expect(delayOf({ countdown: 30 }, now)).toBe(30_000);
    expect(delayOf({ countdown: 1.5 }, now)).toBe(1_500);
  });

  it('is 0 for an eta in the past', () => {
    expect(delayOf({ eta: new Date(now - 60_000) }, now)).toBe(0);
    expect(delayOf({ eta: new Date(now - 60_000).toISOString() }, now)).toBe(0);
    expect(delayOf({ eta: now - 1 }, now)).toBe(0);
  });

  it('is the ms until a future eta given as Date', () => {
    expect(delayOf({ eta: new Date(now + 90_000) }, now)).toBe(90_000);
  });

  it('is the ms until a future eta given as ISO string', () => {
    expect(delayOf({ eta: '2026-05-01T12:05:00Z' }, now)).toBe(5 * 60_000);
    expect(delayOf({ eta: '2026-05-01T14:00:00+02:00' }, now)).toBe(0);
    expect(delayOf({ eta: '2026-05-01T15:00:00+02:00' }, now)).toBe(60 * 60_000);
  });

  it('is the ms until a future eta given as epoch ms', () => {
    expect(delayOf({ eta: now + 1234 }, now)).toBe(1234);
  });

  it('measures from Date.now() by default', () => {
    const d = delayOf({ eta: Date.now() + 60_000 });
    expect(d).toBeGreaterThan(59_000);
    expect(d).toBeLessThanOrEqual(60_000);
  });
});

describe('validateConcurrency()', () => {
  it('defaults to one of each', () => {
    expect(validateConcurrency(undefined)).toEqual({ high: 1, default: 1, low: 1 });
    expect(validateConcurrency({})).toEqual({ high: 1, default: 1, low: 1 });
  });

  it('overrides the queues given', () => {
    expect(validateConcurrency({ high: 4, low: 0 })).toEqual({ high: 4, default: 1, low: 0 });
  });

  it('refuses an unknown queue name, naming it', () => {
    const err = refusal(() => validateConcurrency({ urgent: 2 }));
    expect(err.message).toContain('urgent');
    expect(err.message).toContain('2');
  });

  it('refuses a negative concurrency', () => {
    const err = refusal(() => validateConcurrency({ default: -1 }));
    expect(err.message).toContain('queues.default');
    expect(err.message).toContain('-1');
  });

  it('refuses a fractional concurrency', () => {
    const err = refusal(() => validateConcurrency({ high: 1.5 }));
    expect(err.message).toContain('queues.high');
    expect(err.message).toContain('1.5');
  });

  it('refuses a non-numeric concurrency', () => {
    refusal(() => validateConcurrency({ low: '2' }));
  });

  it('refuses all-zero concurrency', () => {
    const err = refusal(() => validateConcurrency({ high: 0, default: 0, low: 0 }));
    expect(err.message).toContain('queues');
  });

  it('refuses a non-object', () => {
    refusal(() => validateConcurrency(3));
    refusal(() => validateConcurrency(null));
    refusal(() => validateConcurrency([1, 1, 1]));
  });
});

describe('resolveWorkerOptions()', () => {
  it('fills in the defaults: 10 stalls, 30 s locks and stall checks, outage retries', () => {
    expect(resolveWorkerOptions({})).toMatchObject({
      maxStalls: 10, lockDurationMs: 30_000, stalledIntervalMs: 30_000, grace: 30_000,
      outage: { retries: 30, delayMs: 1_000, maxDelayMs: 30_000 },
    });
  });

  it('takes Infinity for maxStalls, and false to turn outage retries off', () => {
    expect(resolveWorkerOptions({ maxStalls: Infinity, outage: false })).toMatchObject({ maxStalls: Infinity, outage: false });
    expect(resolveWorkerOptions({ outage: { retries: 0 } }).outage).toEqual({ retries: 0, delayMs: 1_000, maxDelayMs: 30_000 });
  });

  it.each([
    [{ maxStalls: -1 }, 'maxStalls'],
    [{ maxStalls: 1.5 }, 'maxStalls'],
    [{ lockDurationMs: 10 }, 'lockDurationMs'],
    [{ stalledIntervalMs: 0 }, 'stalledIntervalMs'],
    [{ outage: { retries: -2 } }, 'outage.retries'],
    [{ outage: { delayMs: 0 } }, 'outage.delayMs'],
    [{ shutdownTimeoutMs: -5 }, 'shutdownTimeoutMs'],
    [{ queues: { urgent: 1 } }, 'queues.urgent'],
  ])('refuses %j, naming %s', (options, option) => {
    const err = refusal(() => resolveWorkerOptions(options as never));
    expect(err.details.option).toBe(option);
    expect(err.message).toContain(option);
  });
});
