import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { defineConfig } from '../src/index.js';
import { BenchItem } from './entities.js';

// The config module of the worker processes `npm run bench:scale` starts: its schema and prefix come from the environment.
export default defineConfig({
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.BENCH_SCALE_PREFIX ?? 'bench-scale',
  dataSources: {
    main: new DataSource({ type: 'postgres', url: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema: process.env.BENCH_SCALE_SCHEMA, entities: [BenchItem], poolSize: 10 }),
  },
});
