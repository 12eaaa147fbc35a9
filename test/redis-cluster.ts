// A private 3-master Redis Cluster on loopback ports for the tests, made with redis-server and
// `redis-cli --cluster create`; a clear error when either binary is missing. No test runner here:
// the scale-out benchmark starts its cluster with it too.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis, type Cluster } from 'ioredis';
import { freePort, redisServerBinary, startPrivateRedis } from './redis-server.js';

const run = promisify(execFile);

export interface PrivateCluster {
  nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

/** Starts three cluster-enabled redis-servers, joins them into one cluster and waits until it is ok. */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const cli = join(dirname(redisServerBinary()), 'redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'deferred-cluster-'));
  const servers: ChildProcess[] = [];
  const stop = async () => {
    for (const s of servers) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodes: PrivateCluster['nodes'] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      servers.push(await startPrivateRedis(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000']));
      nodes.push({ host: '127.0.0.1', port });
    }
    await run(cli, ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']).catch((err: Error) => {
      throw new Error(`redis-cli --cluster create failed (is redis-cli installed? apt-get install redis-tools): ${err.message}`);
    });
    for (const node of nodes) await untilOk(node.port);
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits until a node says cluster_state:ok (every slot served). */
async function untilOk(port: number): Promise<void> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  client.on('error', () => undefined);
  try {
    for (const end = Date.now() + 15_000; Date.now() < end;) {
      if (/cluster_state:ok/.test(await client.cluster('INFO') as string)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the cluster node on port ${port} did not reach cluster_state:ok within 15 s`);
  } finally {
    client.disconnect();
  }
}

/** The master (host:port) that serves `key`'s slot, asked of the cluster (CLUSTER KEYSLOT, CLUSTER SLOTS). */
export async function masterOf(client: Cluster, key: string): Promise<string> {
  const [slots, slot] = await Promise.all([client.cluster('SLOTS'), client.cluster('KEYSLOT', key)]);
  const range = slots.find(([start, end]) => slot >= start && slot <= end);
  if (!range) throw new Error(`no node serves slot ${slot} (key ${key})`);
  const [host, port] = range[2];
  return `${host}:${port}`;
}

/** `count` hash tags `{<base>-<n>}` that the cluster serves from `count` different masters. */
export async function tagsOnDifferentMasters(client: Cluster, base: string, count = 3): Promise<string[]> {
  const picked = new Map<string, string>();
  for (let i = 0; picked.size < count && i < 500; i++) {
    const tag = `{${base}-${i}}`;
    const master = await masterOf(client, tag);
    if (!picked.has(master)) picked.set(master, tag);
  }
  if (picked.size < count) throw new Error(`found no ${count} hash tags on ${count} different masters`);
  return [...picked.values()];
}
