import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { configure, Deferred, DeferredJobRecord, DeferredType, type DeferredJob } from '../../src/index.js';
import { failure } from '../assert.js';
import { producerQueue } from '../../src/queues.js';
import { Account, Effect, ENTITIES } from '../fixtures/entities.js';
import { REDIS_URL, setup, type DbKind, type Harness } from '../helpers.js';
import { TcpProxy } from '../proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RECORDING = [...ENTITIES, DeferredJobRecord];

/** The same database, reached through `proxy`. */
function throughProxy(options: DataSourceOptions, proxy: TcpProxy): DataSourceOptions {
  if (options.type === 'postgres') {
    const url = new URL(options.url!);
    url.port = String(proxy.port);
    return { ...options, url: url.href };
  }
  return { ...options, host: '127.0.0.1', port: proxy.port } as DataSourceOptions;
}

/** Where the server behind a data source's options listens. */
function serverOf(options: DataSourceOptions): { host: string; port: number } {
  if (options.type === 'postgres') {
    const url = new URL(options.url!);
    return { host: url.hostname, port: Number(url.port || 5432) };
  }
  const o = options as { host: string; port: number };
  return { host: o.host, port: o.port };
}

/** The harness and proxy of each test, closed after it (the harness first: its worker talks through the proxy). */
function outageScope(): { h?: Harness; proxy?: TcpProxy } {
  const scope: { h?: Harness; proxy?: TcpProxy } = {};
  afterEach(async () => {
    await scope.h?.cleanup();
    await scope.proxy?.close();
    scope.h = scope.proxy = undefined;
  });
  return scope;
}

/** Configures the library with the harness' database reached through a new proxy (the worker's view); the test reads it directly. */
async function behindProxy(scope: { h?: Harness; proxy?: TcpProxy }, entities: DataSourceOptions['entities']): Promise<TcpProxy> {
  const h = scope.h!;
  const proxy = (scope.proxy = await TcpProxy.start(serverOf(h.options)));
  configure({ connection: REDIS_URL, prefix: h.prefix, dataSources: { main: new DataSource({ ...throughProxy(h.options, proxy), entities }) } });
  return proxy;
}

describe.each(['postgres', 'mariadb'] as DbKind[])('a database outage while a worker drains, on %s', (kind) => {
  const s = outageScope();
  const logged: string[] = [];

  const counts = () => producerQueue('default').getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');

  it('10 s without the database, default options: no job fails, none is lost, each effect applies once, the table agrees', async () => {
    const h = (s.h = await setup(kind, {}, false, { entities: RECORDING }));
    const proxy = await behindProxy(s, RECORDING);
    await h.startWorker({ queues: { high: 0, default: 4, low: 0 }, logger: { info: () => undefined, warn: (_f, m) => logged.push(m ?? ''), error: (_f, m) => logged.push(m ?? '') } });
    const handles: DeferredJob<string>[] = [];
    for (let i = 0; i < 300; i += 50) handles.push(...await Promise.all(Array.from({ length: 50 }, () => Deferred(Effect, 'main', 'ops', 'record', 30))));

    while ((await counts()).completed < 40) await sleep(50);
    await proxy.cut();
    const during = await counts();
    await sleep(10_000);
    await proxy.restore();

    const results = await Promise.all(handles.map((j) => j.result({ timeoutMs: 90_000 })));
    expect(results).toEqual(handles.map((j) => j.id));
    expect(await counts()).toEqual({ completed: 300, failed: 0, active: 0, waiting: 0, delayed: 0 });
    expect(during.completed).toBeLessThan(300);
    expect(await h.dataSource.manager.count(Effect)).toBe(300);
    const rows = await h.dataSource.manager.find(DeferredJobRecord, { select: { id: true, state: true, attempts: true } });
    expect(rows.filter((r) => r.state === 'completed').length).toBe(300);
    // No attempt was spent on the outage: every job completed in its first (and only) attempt.
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
    const putBack = (await producerQueue('default').getJobs(['completed'], 0, -1)).filter((j) => j.attemptsStarted > 1).length;
    expect(putBack).toBeGreaterThan(0);
    expect(logged.some((m) => m.startsWith('database unreachable'))).toBe(true);
    console.log(`[outage ${kind}] ${during.completed} of 300 done at the cut, ${putBack} jobs put back during the outage`);
  }, 150_000);
});

describe('a Redis outage while a worker drains', () => {
  const s = outageScope();

  it('the worker keeps running through 5 s without Redis and finishes every job once', async () => {
    const h = (s.h = await setup('postgres', {}, false, { entities: RECORDING }));
    const redis = new URL(REDIS_URL);
    const proxy = (s.proxy = await TcpProxy.start({ host: redis.hostname, port: Number(redis.port || 6379) }));
    // Only the worker's connection goes through the proxy: the producer and the test still reach Redis.
    await h.startWorker({ connection: `redis://127.0.0.1:${proxy.port}`, queues: { high: 0, default: 4, low: 0 }, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    const handles = await Promise.all(Array.from({ length: 200 }, () => Deferred(Effect, h.dataSource, 'ops', 'record', 20)));
    while ((await producerQueue('default').getJobCounts('completed')).completed < 30) await sleep(50);
    await proxy.cut();
    await sleep(5_000);
    await proxy.restore();
    const results = await Promise.all(handles.map((j) => j.result({ timeoutMs: 90_000 })));
    expect(results).toEqual(handles.map((j) => j.id));
    expect(await h.dataSource.manager.count(Effect)).toBe(200);
    expect(await producerQueue('default').getJobCounts('completed', 'failed')).toEqual({ completed: 200, failed: 0 });
  }, 150_000);
});

describe('what counts as an outage, and its bound', () => {
  const s = outageScope();

  it('a socket error from a service the method calls, while the database answers, is an ordinary failure', async () => {
    const h = (s.h = await setup('postgres', {}, { relay: false }));
    const job = await DeferredType({ attempts: 1 })(Account, h.dataSource, 1, 'callService', 'ECONNREFUSED');
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.details.remoteMessage).toContain('10.9.8.7:443');
    const bull = (await producerQueue('default').getJob(job.id))!;
    expect([bull.attemptsStarted, bull.attemptsMade]).toEqual([1, 1]);
  });

  it('past outage.retries, a job that still cannot reach its database fails like any other error', async () => {
    const h = (s.h = await setup('postgres', {}, false));
    const proxy = await behindProxy(s, ENTITIES);
    await h.startWorker({ relay: false, outage: { retries: 2, delayMs: 50, maxDelayMs: 100 }, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    await proxy.cut();
    const job = await Deferred(Account, 'main', 1, 'totalBalance');
    const err = await failure(job.result({ timeoutMs: 20_000 }));
    expect(err.details.remoteMessage).toContain('ECONNREFUSED');
    const bull = (await producerQueue('default').getJob(job.id))!;
    // Two runs put back without spending an attempt, then the third spends the only one.
    expect([bull.attemptsStarted, bull.attemptsMade]).toEqual([3, 1]);
  });
});
