import 'reflect-metadata';
import { Cluster } from 'ioredis';
import { DataSource } from 'typeorm';
import { defineConfig } from '../src/index.js';
import { BenchItem } from './entities.js';

// The config module of the worker processes `npm run bench:scale` starts: its schema and prefix come from the environment,
// and so does the Redis Cluster of `npm run bench:scale:cluster` (BENCH_SCALE_CLUSTER_PORTS, its nodes' ports on 127.0.0.1).
const clusterPorts = process.env.BENCH_SCALE_CLUSTER_PORTS?.split(',').map(Number);

export default defineConfig({
  connection: clusterPorts ? new Cluster(clusterPorts.map((port) => ({ host: '127.0.0.1', port }))) : process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.BENCH_SCALE_PREFIX ?? 'bench-scale',
  dataSources: {
    main: new DataSource({ type: 'postgres', url: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema: process.env.BENCH_SCALE_SCHEMA, entities: [BenchItem], poolSize: 10 }),
  },
});
