import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeDeferred, configure } from '../../src/index.js';
import { consoleLogger } from '../../src/observe/logger.js';
import { callLabel, deferredMetrics } from '../../src/observe/metrics.js';
import { VERSION } from '../../src/version.js';
import { thrown } from '../assert.js';

describe('observability options and helpers', () => {
  afterEach(async () => {
    await closeDeferred();
    vi.restoreAllMocks();
  });

  it('VERSION is the version in package.json (the tracer and `deferred --version` report it)', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('configure({ metrics }) takes false or { registry }, and names the option otherwise', () => {
    for (const metrics of ['yes', null, { registry: {} }]) {
      const err = thrown(() => configure({ dataSources: {}, metrics: metrics as never }));
      expect([err.code, err.message]).toEqual(['DEFER_ERR_INVALID_OPTION', expect.stringContaining('metrics')]);
    }
  });

  it('configure({ metrics: false }) turns the metrics off; by default they go to prom-client\'s default registry', async () => {
    configure({ dataSources: {}, metrics: false });
    expect(await deferredMetrics()).toBeUndefined();
    configure({ dataSources: {} });
    const { register } = await import('prom-client');
    expect((await deferredMetrics())?.registry).toBe(register);
    expect(register.getSingleMetric('deferred_jobs_enqueued_total')).toBeDefined();
  });

  it('the call label is `Model.method` or a task name, and `unknown` for anything else (bounded label values)', () => {
    for (const name of ['Report.generate', 'send-welcome', 'reports:rebuild']) expect(callLabel(name)).toBe(name);
    for (const name of [undefined, '', 'Report.gen erate', `A.${'m'.repeat(300)}`, 'Report.generate\n', 'a"b']) expect(callLabel(name)).toBe('unknown');
  });

  it('without a logger, warnings and errors reach the console as one readable line with the stack', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    consoleLogger.error({ jobId: 'j1', queue: 'default', err: new Error('boom') }, 'job failed');
    const [line] = error.mock.calls[0]!;
    expect(line).toMatch(/^\d\d:\d\d:\d\d ERROR \[typeorm-deferred\] job failed jobId=j1 queue=default\n {4}Error: boom\n {4}at /);
  });
});
