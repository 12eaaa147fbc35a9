import { Queue, Worker, type Job } from 'bullmq';
import { Cluster, Redis, type ChainableCommander } from 'ioredis';
import { getConfig, onReset, type ConnectionSetting } from './config.js';
import { DeferralError } from './errors.js';
import { QUEUE_NAMES, type QueueName } from './options.js';
import { READABLE_JOB } from './call/readable-job.js';

/** A Redis client and whether we must close it (we never close a client the user gave us). */
export interface OwnedRedis {
  client: Redis;
  owned: boolean;
}

/**
 * Opens a client for a connection setting. Producers keep ioredis' retry limit so a
 * Redis outage fails `Deferred()` after a few seconds instead of hanging a request;
 * workers use `maxRetriesPerRequest: null`, as BullMQ requires for blocking reads.
 */
export function openRedis(setting: ConnectionSetting, role: 'producer' | 'worker'): OwnedRedis {
  if (setting instanceof Redis) return { client: setting, owned: false };
  if (setting instanceof Cluster) return { client: setting as unknown as Redis, owned: false };
  const extra = role === 'worker' ? { maxRetriesPerRequest: null } : {};
  const client = typeof setting === 'string' ? new Redis(setting, extra) : new Redis({ ...setting, ...extra });
  // An unhandled 'error' event would crash the process; ioredis reconnects by itself.
  client.on('error', () => undefined);
  return { client, owned: true };
}

// What a node of a Redis Cluster answers a plain client asking for a key it does not serve.
const CLUSTER_REPLY = /\b(MOVED|ASK|CROSSSLOT|CLUSTERDOWN)\b/;
const CLUSTER_FIX = "pass an ioredis Cluster as the connection (new Cluster([{ host, port }])) with a hash-tagged prefix such as '{deferred}'";

/** The error to give for a Redis reply that says the connection is a plain client on a cluster node, if it is one. */
export function clusterNodeError(err: unknown): DeferralError | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (!CLUSTER_REPLY.test(message)) return undefined;
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid configure() option connection: it reaches one node of a Redis Cluster, which answered "${message.split('\n')[0]}": ${CLUSTER_FIX}`, { option: 'connection' }, { cause: err });
}

/**
 * Refuses a plain Redis client on a node of a Redis Cluster: it works only for the keys that node
 * serves, and fails with MOVED for the others. One INFO, when a worker starts; a server that does not
 * answer INFO (renamed on some hosted Redis) is let through.
 */
export async function refuseClusterNode(client: Redis): Promise<void> {
  if (client instanceof Cluster) return;
  const info = await client.info('cluster').catch(() => '');
  if (/cluster_enabled:1/.test(info)) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid connection: it reaches one node of a Redis Cluster (cluster_enabled:1): ${CLUSTER_FIX}`, { option: 'connection' });
}

/** Closes a client if we own it: quit when possible, disconnect when Redis is gone. */
export async function closeRedis(redis: OwnedRedis | undefined): Promise<void> {
  if (!redis?.owned) return;
  if (redis.client.status === 'end') return;
  await redis.client.quit().catch(() => redis.client.disconnect());
}

/** A BullMQ Queue whose jobs are {@link ReadableJob}s: one whose data is not JSON can still be read. */
export class ReadableQueue extends Queue {
  protected override get Job(): typeof Job {
    return READABLE_JOB;
  }
}

/** A BullMQ Worker whose jobs are {@link ReadableJob}s: data that is not JSON reaches the processor, which fails it with a code. */
export class ReadableWorker extends Worker {
  protected override get Job(): typeof Job {
    return READABLE_JOB;
  }
}

let producer: { redis: OwnedRedis; queues: Map<QueueName, Queue> } | undefined;

/** The process-wide producer Queue for `name`, opened on first use. */
export function producerQueue(name: QueueName): Queue {
  const { connection, queuePrefixes, telemetry } = getConfig();
  producer ??= { redis: openRedis(connection, 'producer'), queues: new Map() };
  let queue = producer.queues.get(name);
  if (!queue) {
    // skipMetasUpdate: opening a queue to read a job (status, getJob) must write nothing to Redis;
    // BullMQ's add scripts set the meta fields they need when a job is added.
    queue = new ReadableQueue(name, { connection: producer.redis.client, prefix: queuePrefixes[name], skipMetasUpdate: true, ...(telemetry ? { telemetry } : {}) });
    queue.on('error', () => undefined);
    producer.queues.set(name, queue);
  }
  return queue;
}

/** All three producer queues, in priority order. */
export function allProducerQueues(): Queue[] {
  return QUEUE_NAMES.map(producerQueue);
}

/** The producer client, for the library's own small keys (cancel markers). */
export function producerRedis(): Redis {
  producerQueue('default');
  return producer!.redis.client;
}

/** One command for {@link pipelinedReads}: the key prefix of the key it reads (a queue's, or `prefix`), and how it adds itself. */
export interface PipelinedRead {
  prefix: string;
  add(pipeline: ChainableCommander): void;
}

/**
 * Runs one command per read, pipelined, and returns their `[error, reply]` pairs in order. On Redis
 * Cluster a pipeline must stay on one node while queues may have their own `{hash tag}` on other
 * masters (`queuePrefixes`): one pipeline per prefix then, run in parallel. Elsewhere, one pipeline.
 */
export async function pipelinedReads(client: Redis, reads: PipelinedRead[]): Promise<Array<[Error | null, unknown] | undefined>> {
  const cluster = (client as { isCluster?: boolean }).isCluster === true;
  const groups = new Map<string, number[]>();
  reads.forEach((read, i) => {
    const key = cluster ? read.prefix : '';
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  });
  const replies: Array<[Error | null, unknown] | undefined> = new Array(reads.length);
  await Promise.all([...groups.values()].map(async (indexes) => {
    const pipeline = client.pipeline();
    for (const i of indexes) reads[i].add(pipeline);
    const out = (await pipeline.exec()) ?? [];
    indexes.forEach((i, k) => { replies[i] = out[k]; });
  }));
  return replies;
}

/** How long a push waits for a producer connection that is not ready (Redis down, or still connecting). */
export const PRODUCER_READY_TIMEOUT_MS = 5_000;

// One wait per client, however many calls are waiting on it (a listener each would pile up).
const readyWaits = new WeakMap<Redis, Promise<void>>();

/**
 * Waits until the producer client is ready. BullMQ would wait for that forever, so a request
 * calling `Deferred()` while Redis is down would hang: fail with DEFER_ERR_REDIS_UNAVAILABLE instead.
 */
export function producerReady(): Promise<void> {
  const client = producerRedis();
  if (client.status === 'ready') return Promise.resolve();
  let wait = readyWaits.get(client);
  if (!wait) {
    if (client.status === 'wait') void client.connect().catch(() => undefined);
    wait = new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        client.off('ready', done);
        reject(new DeferralError('DEFER_ERR_REDIS_UNAVAILABLE', `Redis (configure({ connection })) did not answer within ${PRODUCER_READY_TIMEOUT_MS} ms`, { timeoutMs: PRODUCER_READY_TIMEOUT_MS, status: client.status }));
      }, PRODUCER_READY_TIMEOUT_MS);
      client.once('ready', done);
    }).finally(() => readyWaits.delete(client));
    readyWaits.set(client, wait);
  }
  return wait;
}

/** {@link producerQueue}, once the producer connection is ready. */
export async function readyProducerQueue(name: QueueName): Promise<Queue> {
  const queue = producerQueue(name);
  await producerReady();
  return queue;
}

onReset(async () => {
  const p = producer;
  producer = undefined;
  if (!p) return;
  await Promise.allSettled([...p.queues.values()].map((q) => q.close()));
  await closeRedis(p.redis);
});
