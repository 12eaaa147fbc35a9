import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { configure, defineTask, DeferredJobRecord, getJob, listSchedules, schedule, startWorker, unschedule } from '../../src/index.js';
import { REDIS_URL } from '../helpers.js';
import { clusterFixture } from '../cluster-fixture.js';
import { tagsOnDifferentMasters } from '../redis-cluster.js';

const ran: string[] = [];
defineTask('cluster-tick', (_payload: unknown, ctx) => {
  ran.push(ctx.id);
  return ctx.queue;
});

// Schedules on a 3-master loopback Redis Cluster, with each queue on its own master: the schedules'
// lock and records (under `prefix`) and each queue's job scheduler (under its queue prefix) live apart.
describe('schedules on a Redis Cluster, queues on different masters', () => {
  const f = clusterFixture();

  it('a declared schedule and one made by schedule() fire on their queues, are listed, and are removed', async () => {
    const base = `sc${Date.now().toString(36)}`;
    const { client, ds } = f;
    const [main, high, low] = await tagsOnDifferentMasters(client, base);
    configure({
      connection: client, prefix: main, queuePrefixes: { high, default: main, low }, dataSources: { main: ds },
      schedules: { beat: { when: { cron: '* * * * * *' }, target: { task: 'cluster-tick' }, options: { queue: 'low' } } },
    });
    await schedule('tick', { every: 1000 }, { task: 'cluster-tick' }, { queue: 'high' });
    f.worker = await startWorker({ relay: false, queues: { high: 1, default: 1, low: 1 } });
    for (const end = Date.now() + 15_000; ['beat', 'tick'].some((n) => ran.filter((id) => id.startsWith(`repeat:${n}:`)).length < 2);) {
      if (Date.now() > end) throw new Error(`not every schedule ran twice: ${ran.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const beat = ran.find((id) => id.startsWith('repeat:beat:'))!;
    expect(await (await getJob(beat))!.result()).toBe('low');
    expect(await ds.manager.findOneBy(DeferredJobRecord, { id: beat })).toMatchObject({ state: 'completed', queue: 'low' });
    const listed = await listSchedules();
    expect(listed.map((s) => [s.name, s.queue, s.origin])).toEqual([['beat', 'low', 'config'], ['tick', 'high', 'api']]);
    for (const s of listed) expect(s.last).toMatchObject({ state: 'completed' });

    // Each queue's scheduler lives under its own tag, on its own master.
    const [lowKeys, highKeys] = await Promise.all([client.exists(`${low}:low:repeat:beat`), client.exists(`${high}:high:repeat:tick`)]);
    expect([lowKeys, highKeys]).toEqual([1, 1]);

    expect(await unschedule('tick')).toBe(true);
    expect(await unschedule('beat')).toBe(true);
    expect(await listSchedules()).toEqual([]);

    // Nothing went to the shared Redis.
    const shared = new Redis(REDIS_URL);
    try {
      for (const p of [main, high, low]) expect(await shared.keys(`${p}*`)).toEqual([]);
    } finally {
      shared.disconnect();
    }
  }, 60_000);
});
