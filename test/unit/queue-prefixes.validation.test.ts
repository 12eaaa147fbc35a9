import 'reflect-metadata';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConnection, resolveConfig } from '../../src/config.js';
import { thrown } from '../assert.js';

// configure({ queuePrefixes }): a key prefix per queue, checked like `prefix` (and, on a Cluster, for a hash tag).
const refused = (fn: () => unknown, ...mentions: string[]) => {
  const err = thrown(fn);
  expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
  for (const m of mentions) expect(err.message).toContain(m);
  return err;
};

describe('configure({ queuePrefixes })', () => {
  // Never connects: lazyConnect, and nothing is sent.
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
  afterAll(() => cluster.disconnect());

  it('gives every queue not named the prefix', () => {
    expect(resolveConfig({ dataSources: {} }).queuePrefixes).toEqual({ high: 'deferred', default: 'deferred', low: 'deferred' });
    expect(resolveConfig({ dataSources: {}, prefix: '{app}', queuePrefixes: { high: '{app-high}' } }).queuePrefixes)
      .toEqual({ high: '{app-high}', default: '{app}', low: '{app}' });
    expect(resolveConfig({ dataSources: {}, queuePrefixes: { low: undefined } }).queuePrefixes.low).toBe('deferred');
  });

  it('refuses what is not a map of queue names to prefixes, naming the option and the queue', () => {
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: 'x' as never }), 'queuePrefixes', 'must map queue names to key prefixes');
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: ['{a}'] as never }), 'queuePrefixes', 'must map queue names');
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: null as never }), 'queuePrefixes', 'must map queue names');
    const unknown = refused(() => resolveConfig({ dataSources: {}, queuePrefixes: { urgent: '{u}' } as never }), 'urgent', 'high, default, low');
    expect(unknown.details).toMatchObject({ value: 'urgent' });
  });

  it('refuses a queue prefix that is empty, too long or has control characters, as it refuses such a prefix', () => {
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: { high: '' } }), 'queuePrefixes.high', 'non-empty');
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: { default: 'p'.repeat(256) } }), 'queuePrefixes.default', 'at most 255');
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: { low: 'a\nb' } }), 'queuePrefixes.low', 'control characters');
    refused(() => resolveConfig({ dataSources: {}, queuePrefixes: { low: 42 as never } }), 'queuePrefixes.low', 'non-empty string');
    expect(resolveConfig({ dataSources: {}, queuePrefixes: { low: 'p'.repeat(255) } }).queuePrefixes.low).toHaveLength(255);
  });

  it('on a Cluster, refuses a queue prefix without a {hash tag}, saying how to fix it; on one Redis any name goes', () => {
    const err = refused(() => resolveConfig({ connection: cluster, prefix: '{app}', dataSources: {}, queuePrefixes: { high: '{h}', low: 'app-low' } }), 'queuePrefixes.low', "'{app-low}'", 'hash tag');
    expect(err.details).toMatchObject({ option: 'queuePrefixes.low', value: 'app-low' });
    // The prefix itself is still checked first: the library's own keys stay under it.
    refused(() => resolveConfig({ connection: cluster, prefix: 'app', dataSources: {}, queuePrefixes: { high: '{h}', default: '{d}', low: '{l}' } }), 'prefix', "'{app}'");
    const ok = resolveConfig({ connection: cluster, prefix: '{app}', dataSources: {}, queuePrefixes: { high: '{h}', default: '{d}', low: '{l}' } });
    expect(ok.queuePrefixes).toEqual({ high: '{h}', default: '{d}', low: '{l}' });
    expect(resolveConfig({ connection: 'redis://127.0.0.1:6379', dataSources: {}, queuePrefixes: { low: 'app-low' } }).queuePrefixes.low).toBe('app-low');
    // A worker's own connection is checked against the queue prefixes too (startWorker({ connection })).
    refused(() => checkConnection(cluster, '{app}', 'connection', { default: 'plain' }), 'queuePrefixes.default', "'{plain}'");
    expect(() => checkConnection(cluster, '{app}', 'connection', { default: '{plain}' })).not.toThrow();
  });
});
