/**
 * Scale-out on one machine: the same drain with 1, 2 and 4 worker processes (`deferred worker`,
 * concurrency BENCH_SCALE_CONCURRENCY each, default 10) on one Redis and PostgreSQL, and where the
 * CPU goes: the worker processes (from /proc), Redis (INFO cpu) and the PostgreSQL server processes
 * (from /proc, so other sessions' work on this machine counts too). `npm run bench:scale`;
 * BENCH_SCALE_N jobs per drain (default 20000), BENCH_SCALE_PROCESSES (default 1,2,4).
 * `npm run bench:scale:cluster` (BENCH_SCALE_CLUSTER=1): the same on a private 3-master loopback Redis Cluster
 * (test/redis-cluster.ts) with a hash-tagged prefix, Redis CPU summed over its three nodes (INFO cpu on each).
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { closeDeferred, configure, Deferred } from '../src/index.js';
import { deleteKeys, openPostgres, openRedis, PG_URL, REDIS_URL } from './services.js';
import { positiveInt, table, timeCalls } from './stats.js';
import { startPrivateCluster, type PrivateCluster } from '../test/redis-cluster.js';

const N = positiveInt('BENCH_SCALE_N', 20_000);
const CONCURRENCY = positiveInt('BENCH_SCALE_CONCURRENCY', 10);
const PROCESSES = (process.env.BENCH_SCALE_PROCESSES ?? '1,2,4').split(',').map(Number);
const CLUSTER = process.env.BENCH_SCALE_CLUSTER === '1';
// /proc's utime and stime are in clock ticks: USER_HZ, 100 on Linux.
const TICK = 100;

/** CPU seconds of a process so far (user + system), from /proc; 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

/** The pids of the PostgreSQL server processes. */
function postgresPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
    } catch {
      return false;
    }
  });
}

const redisCpu = async (info: () => Promise<string>) => {
  const text = await info();
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? 0);
  return read('used_cpu_sys') + read('used_cpu_user');
};

/** Starts `n` worker processes on the paused queue and resolves once each says it started. */
async function startWorkers(n: number, env: NodeJS.ProcessEnv): Promise<ChildProcess[]> {
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['dist/src/cli.js', 'worker', '--config', 'dist/bench/scale-config.js',
    '--queues', `high=0,default=${CONCURRENCY},low=0`, '--quiet', '--log-format', 'json'], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
  await Promise.all(children.map((child) => new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('"worker started"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`a worker process exited (${code}) before it started:\n${out}`)));
  })));
  return children;
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  })));
}

async function main(): Promise<void> {
  const db = await openPostgres(10);
  // On the cluster, a hash tag puts every key of the queue in one slot (the library refuses a prefix without one).
  const prefix = CLUSTER ? `{bench-scale-${Date.now().toString(36)}}` : `bench-scale-${Date.now().toString(36)}`;
  let cluster: PrivateCluster | undefined;
  let redis: Redis | Cluster;
  // The clients INFO cpu is read on: the one Redis, or each node of the cluster.
  let infoClients: Redis[];
  if (CLUSTER) {
    cluster = await startPrivateCluster();
    redis = new Cluster(cluster.nodes);
    infoClients = cluster.nodes.map((n) => new Redis(n.port, n.host));
  } else {
    redis = openRedis();
    infoClients = [redis];
  }
  const queue = new Queue('default', { connection: redis, prefix });
  const env = {
    ...process.env, REDIS_URL, PG_URL, BENCH_SCALE_PREFIX: prefix, BENCH_SCALE_SCHEMA: (db.dataSource.options as { schema: string }).schema,
    BENCH_SCALE_CLUSTER_PORTS: cluster?.nodes.map((n) => n.port).join(','),
  };
  configure({ connection: CLUSTER ? redis : REDIS_URL, prefix, dataSources: { main: db.dataSource }, metrics: false });
  const nodeCpus = () => Promise.all(infoClients.map((c) => redisCpu(() => c.info('cpu'))));
  const rows: string[][] = [];
  // The round's worker processes, stopped in `finally` too when a round fails.
  let children: ChildProcess[] = [];
  const where = cluster ? `a private 3-master loopback Redis Cluster (ports ${cluster.nodes.map((n) => n.port).join(', ')}, prefix ${prefix}; Redis CPU summed over the nodes)` : 'one Redis';
  console.log(`scale-out: drains of ${N} jobs (a no-op record method, PostgreSQL ${db.version}) on ${where}, worker processes of concurrency ${CONCURRENCY}; ${os.availableParallelism()} cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  try {
    for (const n of PROCESSES) {
      await queue.pause();
      await timeCalls(N, 50, () => Deferred(db.record, db.dataSource, 42, 'noop'));
      children = await startWorkers(n, env);
      // Backends the workers' pools open during the drain count from zero.
      const pgBefore = new Map(postgresPids().map((pid) => [pid, cpuOf(pid)]));
      const before = { workers: children.map((c) => cpuOf(c.pid!)), redis: await nodeCpus() };
      const started = performance.now();
      await queue.resume();
      // Until nothing waits or runs (the completed count stops at the retention's 10,000).
      const left = async () => Object.values(await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed')).reduce((a, b) => a + b, 0);
      while ((await left()) > 0) await new Promise((r) => setTimeout(r, 20));
      const failed = (await queue.getJobCounts('failed')).failed;
      if (failed) throw new Error(`${failed} jobs failed`);
      const seconds = (performance.now() - started) / 1000;
      const redisByNode = (await nodeCpus()).map((s, i) => s - before.redis[i]!);
      const cpu = {
        workers: children.reduce((sum, c, i) => sum + cpuOf(c.pid!) - before.workers[i]!, 0),
        redis: redisByNode.reduce((a, b) => a + b, 0),
        pg: postgresPids().reduce((sum, pid) => sum + cpuOf(pid) - (pgBefore.get(pid) ?? 0), 0),
      };
      await stopWorkers(children);
      children = [];
      const perJob = (s: number) => `${((s * 1e6) / N).toFixed(0)} µs`;
      rows.push([String(n), Math.round(N / seconds).toLocaleString('en-US'), perJob(cpu.workers), perJob(cpu.redis), perJob(cpu.pg),
        `${((cpu.workers + cpu.redis + cpu.pg) / seconds).toFixed(2)} of ${os.availableParallelism()}`]);
      process.stderr.write(`${n} process(es): ${rows.at(-1)!.join('  ')}${cluster ? `  (Redis CPU/job by node: ${redisByNode.map(perJob).join(', ')})` : ''}\n`);
      await queue.obliterate({ force: true });
    }
    console.log(table(['processes', 'jobs/s', 'CPU/job workers', 'CPU/job Redis', 'CPU/job PostgreSQL', 'cores busy'], rows));
  } finally {
    await stopWorkers(children);
    await queue.close();
    await closeDeferred();
    // The private cluster goes away with its keys.
    if (!cluster) await deleteKeys(redis as Redis, `${prefix}:*`);
    await redis.quit();
    for (const c of infoClients) if (c !== redis) c.disconnect();
    await db.close();
    await cluster?.stop();
  }
}

await main();
