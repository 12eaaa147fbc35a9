import { DataSource } from 'typeorm';
import { closeDeferred, configure, DeferralError, Deferred, startWorker } from 'typeorm-deferred';
import { dashboardPlugin } from 'typeorm-deferred/dashboard';
import config = require('./config');
import { Report } from './report';

/** True when require() and import() of `name` give the same class: one copy in this process. */
async function oneCopy(name: string, exported: string): Promise<boolean> {
  const required = require(name)[exported];
  return typeof required === 'function' && required === (await import(name))[exported];
}

// Defers one call and prints its result; with --worker the worker runs in this process,
// otherwise another process (the CLI) consumes the queue.
async function main(): Promise<void> {
  const dataSource = config.dataSources.main!;
  await dataSource.initialize();
  configure(config);
  const worker = process.argv.includes('--worker') ? await startWorker({ queues: { default: 1 } }) : undefined;
  const report = await dataSource.manager.save(dataSource.manager.create(Report, { total: 40 }));
  const job = await Deferred(report, 'main', 'alice', 'add', 2);
  const result = await job.result({ timeoutMs: 20_000 });
  const copies = {
    'typeorm-deferred': await oneCopy('typeorm-deferred', 'DeferralError'),
    typeorm: await oneCopy('typeorm', 'DataSource'),
    bullmq: await oneCopy('bullmq', 'Queue'),
  };
  console.log(JSON.stringify({ result, state: await job.state(), copies, dashboard: typeof dashboardPlugin, errors: typeof DeferralError }));
  await worker?.close();
  await closeDeferred();
  await dataSource.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
