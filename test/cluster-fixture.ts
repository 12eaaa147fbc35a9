// The set-up every cluster test file shares (vitest hooks): a private cluster, a client on it, a data source.
import 'reflect-metadata';
import { Cluster } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll } from 'vitest';
import { closeDeferred, DeferredJobRecord, type DeferredWorker } from '../src/index.js';
import { ENTITIES } from './fixtures/entities.js';
import { startPrivateCluster, type PrivateCluster } from './redis-cluster.js';

/** What a cluster test file works with: filled in before its tests, closed after them. */
export interface ClusterFixture {
  cluster: PrivateCluster;
  client: Cluster;
  /** In-memory SQLite with the test entities and the job table. */
  ds: DataSource;
  /** A worker the file started, closed first. */
  worker?: DeferredWorker;
}

/** Starts a private cluster, a Cluster client on it and a data source before the file's tests; closes all of them (and the configuration) after. */
export function clusterFixture(): ClusterFixture {
  const f = {} as ClusterFixture;
  beforeAll(async () => {
    f.cluster = await startPrivateCluster();
    f.client = new Cluster(f.cluster.nodes);
    f.ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [...ENTITIES, DeferredJobRecord], synchronize: true });
    await f.ds.initialize();
  }, 60_000);
  afterAll(async () => {
    await f.worker?.close();
    await closeDeferred();
    await f.client?.quit().catch(() => f.client.disconnect());
    if (f.ds?.isInitialized) await f.ds.destroy();
    await f.cluster?.stop();
  });
  return f;
}
