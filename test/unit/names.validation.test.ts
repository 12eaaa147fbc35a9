import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { setDeferredJobTable } from '../../entities/index.js';
import { resolveConfig } from '../../src/config.js';
import { registerRepository } from '../../src/call/registry.js';
import { thrown } from '../assert.js';
import { Account } from '../fixtures/entities.js';

// Names the library keeps (in payloads, Redis keys, the job table) are checked where they are given.
const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Account] });
const refused = (fn: () => unknown, ...mentions: string[]) => {
  const err = thrown(fn);
  expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
  for (const m of mentions) expect(err.message).toContain(m);
};

describe('names the library keeps', () => {
  it('registerRepository() refuses a name longer than the job table keeps, empty, or with control characters', () => {
    refused(() => registerRepository(Account, (b) => b.extend({}), { name: 'r'.repeat(256) }), 'name', 'at most 255 characters');
    refused(() => registerRepository(Account, (b) => b.extend({}), { name: '' }), 'name', 'non-empty');
    refused(() => registerRepository(Account, (b) => b.extend({}), { name: 'a\nb' }), 'control characters');
    expect(registerRepository(Account, (b) => b.extend({}), { name: 'r'.repeat(255) }).repositoryName).toHaveLength(255);
  });

  it('configure() refuses a prefix or a data source name that is empty, too long or has control characters', () => {
    refused(() => resolveConfig({ dataSources: {}, prefix: 'a\u0000' }), 'prefix', 'control characters');
    refused(() => resolveConfig({ dataSources: {}, prefix: 'p'.repeat(300) }), 'prefix', 'at most 255');
    refused(() => resolveConfig({ dataSources: { '': ds } }), 'dataSources[""]', 'non-empty');
    refused(() => resolveConfig({ dataSources: { 'main\n': ds } }), 'control characters');
    expect(resolveConfig({ dataSources: { main: ds }, prefix: '{deferred}' }).prefix).toBe('{deferred}');
  });

  it('configure() takes a workers list for `deferred workers`, and refuses a malformed one naming the entry', () => {
    expect(resolveConfig({ dataSources: {} }).workers).toEqual([]);
    expect(resolveConfig({ dataSources: {}, workers: [{ queues: { high: 4 }, processes: 2 }, { queues: { default: 2, low: 1 } }] }).workers)
      .toEqual([{ queues: { high: 4 }, processes: 2 }, { queues: { default: 2, low: 1 }, processes: 1 }]);
    refused(() => resolveConfig({ dataSources: {}, workers: {} as never }), 'workers', 'must be a list');
    refused(() => resolveConfig({ dataSources: {}, workers: [{} as never] }), 'workers[0]', '{ queues');
    refused(() => resolveConfig({ dataSources: {}, workers: [{ queues: { default: 1 }, processes: 0 }] }), 'workers[0].processes', 'from 1 to 64');
    refused(() => resolveConfig({ dataSources: {}, workers: [{ queues: { urgent: 1 } as never }] }), 'urgent');
  });

  it('setDeferredJobTable() refuses a name longer than an identifier may be, or empty', () => {
    refused(() => setDeferredJobTable('t'.repeat(64)), 'at most 63');
    refused(() => setDeferredJobTable(''), 'non-empty');
  });
});
