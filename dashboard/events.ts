import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from './options.js';
import { visibleJob } from './routes.js';
import { jobView } from './view.js';
import type { JobWatcher } from './watch.js';

const HEARTBEAT_MS = 15_000;

/**
 * GET /api/jobs/:id/events: Server-Sent Events with the job's view at once, then at every
 * change until the job ends (the stream closes after the final state). Each open stream's
 * `end` is kept in `streams`, so closing the server ends them instead of waiting for clients.
 */
export async function streamJobEvents(request: FastifyRequest, reply: FastifyReply, identity: Identity, watcher: JobWatcher, streams: Set<() => void>): Promise<void> {
  const { id } = request.params as { id: string };
  const found = await visibleJob(id, identity);
  if (!found) {
    await reply.code(404).send({ error: 'not found', id });
    return;
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let ended = false;
  let lastSent = '';
  const end = () => {
    if (ended) return;
    ended = true;
    streams.delete(end);
    clearInterval(heartbeat);
    unsubscribe();
    raw.end();
  };
  const send = (snapshot: Parameters<typeof jobView>[0]) => {
    if (ended) return;
    const view = jobView(snapshot, identity);
    const data = JSON.stringify(view);
    // The watcher's first read repeats the view sent on connect: send changes only.
    if (data === lastSent) return;
    lastSent = data;
    raw.write(`data: ${data}\n\n`);
    if (view.done) end();
  };
  // A comment line now and then keeps proxies from closing an idle stream.
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
  let unsubscribe: () => void = () => undefined;
  // Every view comes from the shared watcher, in its order, so no client sees progress go back.
  unsubscribe = watcher.subscribe(id, send);
  // The watcher may have handed over a final state during subscribe().
  if (ended) unsubscribe();
  streams.add(end);
  request.raw.on('close', end);
}
