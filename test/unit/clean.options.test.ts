import { describe, expect, it } from 'vitest';
import { cleanJobs, type CleanJobsOptions } from '../../src/index.js';
import { parseDuration } from '../../src/cli/clean.js';
import { failure } from '../assert.js';

describe('cleanJobs() options', () => {
  const bad: Array<[string, unknown]> = [
    ['options', undefined],
    ['options', 'old'],
    ['olderThanMs', { states: ['completed'] }],
    ['olderThanMs', { olderThanMs: -1, states: ['completed'] }],
    ['olderThanMs', { olderThanMs: Infinity, states: ['completed'] }],
    ['olderThanMs', { olderThanMs: '7d', states: ['completed'] }],
    ['states', { olderThanMs: 0 }],
    ['states', { olderThanMs: 0, states: [] }],
    ['states', { olderThanMs: 0, states: 'completed' }],
    ['states', { olderThanMs: 0, states: ['completed', 'waiting'] }],
    ['states', { olderThanMs: 0, states: ['active'] }],
    ['queues', { olderThanMs: 0, states: ['failed'], queues: ['urgent'] }],
    ['queues', { olderThanMs: 0, states: ['failed'], queues: [] }],
    ['queues', { olderThanMs: 0, states: ['failed'], queues: 'high' }],
    ['batchSize', { olderThanMs: 0, states: ['failed'], batchSize: 0 }],
    ['batchSize', { olderThanMs: 0, states: ['failed'], batchSize: 1.5 }],
    ['batchSize', { olderThanMs: 0, states: ['failed'], batchSize: 10_001 }],
  ];
  it.each(bad)('rejects a bad %s with DEFER_ERR_INVALID_OPTION naming it, before touching Redis', async (option, options) => {
    const err = await failure(cleanJobs(options as CleanJobsOptions));
    expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(err.details.option).toBe(option);
    expect(err.message).toContain(`cleanJobs() option ${option}`);
  });

  it("refuses 'cancelled' and says that a cancelled job is a failed one", async () => {
    const err = await failure(cleanJobs({ olderThanMs: 0, states: ['cancelled' as never] }));
    expect(err).toMatchObject({ code: 'DEFER_ERR_INVALID_OPTION', details: { option: 'states' } });
    expect(err.message).toContain("name 'failed'");
  });
});

describe('deferred clean --older-than durations', () => {
  it.each([
    ['7d', 7 * 86_400_000], ['12h', 12 * 3_600_000], ['30m', 1_800_000], ['90s', 90_000], ['500ms', 500],
    ['2500', 2_500], ['0', 0], ['1.5h', 5_400_000], [' 1d ', 86_400_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'd', '7 d', '7days', '-1d', '1e3', '7D', '1w', '1h30m', 'Infinity', '99999999999999999999d'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
