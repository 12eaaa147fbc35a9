import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { decodeArgs, decodeResult, parsePayload, targetName, toJsonView } from '../src/call/call.js';
import { QUEUE_NAMES } from '../src/options.js';
import { producerQueue } from '../src/queues.js';

/** Job data as bull-board shows it: the call in words, arguments decoded, instead of superjson's wire form. */
export function readableData(data: unknown): unknown {
  try {
    const p = parsePayload(data);
    const t = p.target;
    return {
      call: t.kind === 'task' ? t.name : `${targetName(t)}.${p.method}`,
      kind: t.kind,
      ...(t.kind === 'records' ? { ids: t.ids.map((id) => (Object.keys(id).length === 1 ? Object.values(id)[0] : id)) } : {}),
      uid: p.uid,
      dataSource: p.ds,
      args: toJsonView(decodeArgs(p.args)),
      options: p.opts,
    };
  } catch {
    return data;
  }
}

/** Mounts bull-board for the three queues at `<prefix>/queues` on `app` (which must already require admin). */
export async function mountBoard(app: FastifyInstance, basePath: string, o: { readOnly: boolean; title: string }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(`${basePath}/queues`);
  const queues = QUEUE_NAMES.map((name) => {
    const adapter = new BullMQAdapter(producerQueue(name), { readOnlyMode: o.readOnly });
    adapter.setFormatter('data', readableData);
    adapter.setFormatter('returnValue', (value: unknown) => toJsonView(decodeResult(value)));
    return adapter;
  });
  createBullBoard({ queues, serverAdapter, options: { uiConfig: { boardTitle: o.title } } });
  await app.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
}
