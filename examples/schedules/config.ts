// Seed 002's scheduler example, without its `--scheduler` leader flag: `my_worker` runs every 5
// seconds, once per tick, however many worker processes run this configuration.
//
//   npm run example:schedules          (2 worker processes under `deferred workers`)
//   npx deferred schedules --config dist/examples/schedules/config.js
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { defineConfig, defineTask } from '../../src/index.js';

// seed 002: class MyWorker(AsyncTaskWorker): name = 'my_worker'; def process(self, payload): print(...)
defineTask('my_worker', (payload: { foo: string; baz: number }, ctx) => {
  console.log(`my_worker: received payload with foo=${payload.foo} (job ${ctx.id}, pid ${process.pid})`);
});

export default defineConfig({
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.DEFERRED_PREFIX ?? 'deferred-example',
  // The task touches no table: each process gets its own in-memory SQLite.
  dataSources: { main: new DataSource({ type: 'better-sqlite3', database: ':memory:' }) },
  // seed 002: asynctask_scheduled_workers='[{"worker": "my_worker", "second": "*/5"}]'
  schedules: {
    'my-worker': { when: { cron: '*/5 * * * * *' }, target: { task: 'my_worker', payload: { foo: 'bar', baz: 123 } } },
  },
  // seed 002: asynctask_workers — here two processes on the default queue, both with the schedule.
  workers: [{ queues: { default: 1 }, processes: 2 }],
});
