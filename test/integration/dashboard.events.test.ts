import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin, type JobView } from '../../dashboard/index.js';
import { Deferred } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const OWNER_TOKEN = 'owner-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const owner = { authorization: `Bearer ${OWNER_TOKEN}` };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Received {
  view: JobView;
  /** ms since the request was sent. */
  at: number;
}

interface Stream {
  status: number;
  contentType: string | null;
  /** Every `data:` event, in order, as it arrives. */
  events: Received[];
  /** Resolves once the server closes the stream; rejects if it stays open past `timeoutMs`. */
  closed: Promise<void>;
  /** Resolves with the first event (or rejects on timeout). */
  first(): Promise<Received>;
  abort(): void;
}

/**
 * Opens a Server-Sent Events stream and parses its `data:` lines as they come. node:http without
 * an agent (Connection: close): no pooled or pre-opened socket outlives the stream, so closing
 * the server and the socket-leak check stay exact.
 */
async function openStream(url: string, headers: Record<string, string>, timeoutMs = 10_000): Promise<Stream> {
  const sent = Date.now();
  const events: Received[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
      if (data.length) {
        events.push({ view: JSON.parse(data.join('\n')) as JobView, at: Date.now() - sent });
        wake();
      }
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`the stream ${url} was still open after ${timeoutMs} ms; events so far: ${JSON.stringify(events.map((e) => e.view))}`));
    }, timeoutMs);
    res.once('end', resolve);
    res.once('close', () => (res.complete ? resolve() : reject(new Error(`the stream ${url} was cut before its end`))));
  }).finally(() => {
    clearTimeout(timer);
    wake();
  });
  closed.catch(() => undefined);
  return {
    status: res.statusCode!,
    contentType: res.headers['content-type'] ?? null,
    events,
    closed,
    async first() {
      if (!events.length) await Promise.race([new Promise<void>((r) => waiters.push(r)), closed.catch(() => undefined)]);
      if (!events.length) throw new Error(`no event on ${url}`);
      return events[0];
    },
    abort: () => req.destroy(),
  };
}

describe('dashboard: live job events (SSE)', () => {
  let h: Harness | undefined;
  let app: FastifyInstance | undefined;
  let base = '';
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    app = undefined;
  });

  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'sse', balance: 0, note: null }));

  async function start(): Promise<void> {
    h = await setup('sqlite');
    app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, {
      prefix: '/deferred',
      pollIntervalMs: 40,
      tokens: { [OWNER_TOKEN]: { uid: 1 }, [ADMIN_TOKEN]: { uid: 'ops', admin: true } },
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    base = `${address}/deferred`;
  }

  const eventsUrl = (id: string) => `${base}/api/jobs/${id}/events`;

  it('streams the current state at once, growing progress, then the final state, and closes', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'countTo', 6, 150);
    const stream = await openStream(eventsUrl(job.id), owner);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);

    const first = await stream.first();
    expect(first.at, 'the first event comes at once').toBeLessThan(500);
    expect(first.view).toMatchObject({ id: job.id, name: 'Account.countTo', done: false, uid: 1 });
    expect(['waiting', 'active']).toContain(first.view.state);
    expect(first.view.percent).toBeLessThan(100);

    await stream.closed;
    const views = stream.events.map((e) => e.view);
    const percents = views.map((v) => v.percent);
    for (let i = 1; i < percents.length; i++) expect(percents[i], `percents ${percents}`).toBeGreaterThanOrEqual(percents[i - 1]);
    const between = [...new Set(percents.filter((p) => p > 0 && p < 100))];
    expect(between.length, `distinct percents strictly between 0 and 100: ${percents}`).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < between.length; i++) expect(between[i]).toBeGreaterThan(between[i - 1]);
    const progressing = views.filter((v) => v.percent > 0 && v.percent < 100);
    for (const v of progressing) {
      expect(v.state).toBe('active');
      expect(v.done).toBe(false);
      // The message and the percent are two writes: a view between them has step n with the percent of step n - 1.
      expect(v.message).toMatch(/^step [1-6] of 6$/);
    }

    const last = views.at(-1)!;
    expect(last).toMatchObject({ id: job.id, state: 'completed', done: true, percent: 100, result: 6, message: 'step 6 of 6' });
    expect(last.finishedAt).toEqual(expect.any(String));
    expect(views.filter((v) => v.done), 'exactly one final event').toHaveLength(1);
    expect(await job.result({ timeoutMs: 1_000 })).toBe(6);
  });

  it('sends changes only: never the same view twice in a row (the first one included)', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'countTo', 4, 150);
    const stream = await openStream(eventsUrl(job.id), owner);
    await stream.closed;
    const views = stream.events.map((e) => e.view);
    const repeats = views.flatMap((v, i) => (i > 0 && JSON.stringify(v) === JSON.stringify(views[i - 1]) ? [`event ${i} repeats event ${i - 1}: ${JSON.stringify(v)}`] : []));
    expect(repeats, repeats.join('\n')).toEqual([]);
    expect(views.at(-1)).toMatchObject({ state: 'completed', result: 4 });
  });

  it('a client that connects after the job finished gets the final state at once, then the stream closes', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'deposit', 5);
    expect(await job.result({ timeoutMs: 10_000 })).toBe(5);
    const stream = await openStream(eventsUrl(job.id), owner, 3_000);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    await stream.closed;
    expect(stream.events).toHaveLength(1);
    expect(stream.events[0].at).toBeLessThan(1_000);
    expect(stream.events[0].view).toMatchObject({ id: job.id, name: 'Account.deposit', state: 'completed', done: true, percent: 100, result: 5 });
  });

  it('a late client also gets a failed final state, with the stack only for an admin', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'depositThenFail', 1, 'no luck');
    await job.result({ timeoutMs: 10_000 }).catch(() => undefined);
    const mine = await openStream(eventsUrl(job.id), owner, 3_000);
    const theirs = await openStream(eventsUrl(job.id), admin, 3_000);
    await Promise.all([mine.closed, theirs.closed]);
    expect(mine.events.map((e) => e.view.state)).toEqual(['failed']);
    expect(mine.events[0].view.error?.message).toContain('no luck');
    expect(mine.events[0].view.error).not.toHaveProperty('stack');
    expect(theirs.events[0].view.error?.stack).toEqual(expect.stringContaining('no luck'));
  });

  it('two clients watching the same job both see it progress and both get the final state', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'countTo', 6, 150);
    const one = await openStream(eventsUrl(job.id), owner);
    await one.first();
    // The second joins while the job runs: the watcher is shared, it must still be told.
    await new Promise((r) => setTimeout(r, 300));
    const two = await openStream(eventsUrl(job.id), admin);
    await Promise.all([one.closed, two.closed]);
    for (const [who, s] of [['first', one], ['second', two]] as const) {
      expect(s.status, who).toBe(200);
      expect(s.events.length, who).toBeGreaterThanOrEqual(1);
      expect(s.events.at(-1)!.view, who).toMatchObject({ state: 'completed', done: true, percent: 100, result: 6 });
      expect(s.events.filter((e) => e.view.done), who).toHaveLength(1);
    }
    expect(two.events[0].view.done, 'the second client joined before the end').toBe(false);
  });

  it('two clients that connect at the same moment both get the final state', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'wait', 400);
    const [one, two] = await Promise.all([openStream(eventsUrl(job.id), owner), openStream(eventsUrl(job.id), owner)]);
    await Promise.all([one.closed, two.closed]);
    for (const s of [one, two]) expect(s.events.at(-1)!.view).toMatchObject({ state: 'completed', done: true, result: 'waited' });
  });

  it('a client that goes away mid-stream does not keep the server or the watcher busy', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'countTo', 4, 150);
    const gone = await openStream(eventsUrl(job.id), owner);
    await gone.first();
    gone.abort();
    await gone.closed.catch(() => undefined);
    // Another client still gets the whole story.
    const stays = await openStream(eventsUrl(job.id), owner);
    await stays.closed;
    expect(stays.events.at(-1)!.view).toMatchObject({ state: 'completed', result: 4 });
    // Nothing is left open on the server: it closes at once.
    const closing = Date.now();
    await app!.close();
    app = undefined;
    expect(Date.now() - closing).toBeLessThan(1_000);
  });

  it('many clients joining one running job at different times each see progress that never goes back', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'countTo', 10, 80);
    const streams: Stream[] = [];
    for (let i = 0; i < 8; i++) {
      streams.push(await openStream(eventsUrl(job.id), owner));
      await new Promise((r) => setTimeout(r, 60));
    }
    await Promise.all(streams.map((s) => s.closed));
    for (const [i, s] of streams.entries()) {
      const percents = s.events.map((e) => e.view.percent);
      for (let k = 1; k < percents.length; k++) expect(percents[k], `client ${i}: ${percents}`).toBeGreaterThanOrEqual(percents[k - 1]);
      expect(s.events.at(-1)!.view).toMatchObject({ state: 'completed', percent: 100, result: 10 });
    }
  });

  it('closing the server ends the streams still open instead of waiting for their clients', async () => {
    await start();
    const a = await account();
    const job = await Deferred(a, h!.dataSource, 1, 'wait', 20_000);
    const open = await openStream(eventsUrl(job.id), owner);
    await open.first();
    const closing = Date.now();
    await app!.close();
    app = undefined;
    expect(Date.now() - closing).toBeLessThan(1_000);
    await open.closed;
    await (await import('../../src/index.js')).getJob(job.id).then((j) => j!.cancel());
  });

  it('an unknown job is a 404 JSON answer, not a stream', async () => {
    await start();
    const res = await fetch(eventsUrl('no-such-job'), { headers: owner });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ error: 'not found', id: 'no-such-job' });
  });
});
