import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { DataSource } from 'typeorm';
import { authenticationChallenge, createAuthenticator, dashboardPlugin, isCrossSite, type Identity } from '../../dashboard/index.js';
import { LowPriorityDeferred, type DeferredJob } from '../../src/index.js';
import { Customer } from './entities.js';
import type { WebOptions } from './options.js';
import type { TourJob } from './tour.js';

/** What the web part needs of the running demo. */
export interface WebContext {
  options: { web: WebOptions };
  dataSource: DataSource;
  /** The user the demo defers its calls for: the "demo" user logs in as this uid. */
  uid: string;
  /** The tour's jobs, listed on the home page. */
  tourJobs: TourJob[];
}

/** The running server. */
export interface Web {
  /** e.g. http://127.0.0.1:3000 (no trailing slash). */
  url: string;
  /** Why the port is not the one asked for, if it is not. */
  notice?: string;
  close(): Promise<void>;
}

/** A port the demo cannot listen on; the message is meant for the user, as is. */
export class WebError extends Error {}

const HOST = '127.0.0.1';
const DEFAULT_PORT = 3000;

type User = Identity & { password: string };

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface Listed {
  label: string;
  call: string;
  job: DeferredJob<unknown>;
}

async function jobRows(jobs: Listed[]): Promise<string> {
  const states = await Promise.all(jobs.map((j) => j.job.state().catch(() => 'unknown')));
  return jobs.map(({ label, call, job }, i) => {
    const id = encodeURIComponent(job.id);
    return `<tr><td>${escapeHtml(label)}</td><td><code>${escapeHtml(call)}</code></td><td>${escapeHtml(states[i])}</td>`
      + `<td><a href="/deferred/jobs/${id}">progress page</a> · <a href="/deferred/api/jobs/${id}">JSON</a></td></tr>`;
  }).join('\n');
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  main { max-width: 820px; margin: 6vh auto; background: #fff; border-radius: 10px; padding: 28px 32px; box-shadow: 0 2px 12px #0001; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } .sub { color: #667; font-size: 14px; margin: 0 0 20px; }
  button { font-size: 16px; padding: 8px 18px; background: #3b6ee8; color: #fff; border: 0; border-radius: 6px; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; } td { padding: 4px 8px 4px 0; border-top: 1px solid #eee; vertical-align: top; }
  code { font-size: 13px; } .muted { color: #667; font-size: 14px; }`;

function homePage(o: { user: Identity & { name: string }; uid: string; longJobMs: number; started: string; tour: string }): string {
  const admin = o.user.admin === true;
  const seconds = Math.round((12 * o.longJobMs) / 1000);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>typeorm-deferred demo</title><style>${STYLE}</style></head>
<body><main>
  <h1>typeorm-deferred demo</h1>
  <p class="sub">Logged in as <b>${escapeHtml(o.user.name)}</b> (uid ${escapeHtml(JSON.stringify(o.user.uid))}${admin ? ', admin: you see every job' : ': you see the jobs of this uid'}).</p>
  <p>This server runs in the demo process, beside a worker that consumes the queues <code>high</code>, <code>default</code> and <code>low</code>.
  The button defers <code>Customer.rebuildStatements(${o.longJobMs})</code> on the <code>low</code> queue for the user <code>${escapeHtml(o.uid)}</code>:
  it goes through the 12 customers (about ${seconds} s) and reports its progress.
  You then land on the job's progress page, which follows it live and brings you back here once it is done.</p>
  <form method="post" action="/start"><button type="submit" id="start">Start a long job</button></form>

  <h2>Dashboard</h2>
  <ul>
    <li><a href="/deferred/queues">bull-board</a>: every queue and job, with their data and logs ${admin ? '' : '<span class="muted">(admin only: log in as <code>admin</code>, e.g. in a private window)</span>'}</li>
    <li>Job API: <code>GET /deferred/api/jobs/&lt;id&gt;</code> (JSON), <code>…/events</code> (Server-Sent Events), <code>POST …/cancel</code></li>
    <li>Progress page: <code>/deferred/jobs/&lt;id&gt;?next=/</code></li>
  </ul>

  <h2>Jobs started here</h2>
  ${o.started ? `<table>${o.started}</table>` : '<p class="muted">None yet.</p>'}

  <h2>Jobs of the tour</h2>
  <table>${o.tour}</table>
</main></body></html>`;
}

/** Listens on the port asked for; without one on 3000, or on a free port when 3000 is taken. */
async function listen(app: ReturnType<typeof Fastify>, web: WebOptions): Promise<{ port: number; notice?: string }> {
  const portOf = () => (app.server.address() as { port: number }).port;
  try {
    await app.listen({ host: HOST, port: web.port ?? DEFAULT_PORT });
    return { port: portOf() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (web.port !== undefined) {
      throw new WebError(`Port ${web.port} (from ${web.portFrom}) is taken on ${HOST}: choose another one, or ${web.portFrom}=0 for any free port.`);
    }
  }
  await app.listen({ host: HOST, port: 0 });
  return { port: portOf(), notice: `Port ${DEFAULT_PORT} is taken: serving on ${portOf()} instead (set DEMO_PORT to choose).` };
}

/**
 * Serves the dashboard under /deferred (bull-board, job API, progress pages) and the demo's
 * home page at /, both behind basic auth with the users "demo" and "admin".
 */
export async function startWeb(ctx: WebContext): Promise<Web> {
  const { web } = ctx.options;
  const users: Record<string, User> = {
    demo: { password: web.password, uid: ctx.uid },
    admin: { password: web.adminPassword, uid: 'admin', admin: true },
  };
  // Force-close on close(): a progress page's live stream would otherwise hold the server open.
  const app = Fastify({ forceCloseConnections: true });
  await app.register(dashboardPlugin, { prefix: '/deferred', basicAuth: users });

  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  app.get('/favicon.ico', (_request, reply) => reply.code(204).send());

  const started: Listed[] = [];
  await app.register(async (home) => {
    // The dashboard's own check and realm, so the browser's one login serves both.
    const whoIs = createAuthenticator({ basicAuth: users });
    const identities = new WeakMap<FastifyRequest, Identity & { name: string }>();
    home.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const identity = await whoIs(request);
      if (!identity) {
        await reply.code(401).header('www-authenticate', authenticationChallenge({ basicAuth: users })).header('cache-control', 'no-store')
          .send({ error: 'authentication required' });
        return reply;
      }
      identities.set(request, { ...identity, name: identity.admin ? 'admin' : 'demo' });
    });
    // The button's form posts an empty urlencoded body; fastify answers 415 to a type it cannot parse.
    home.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    home.get('/', async (request, reply) => {
      const body = homePage({
        user: identities.get(request)!, uid: ctx.uid, longJobMs: web.longJobMs,
        started: await jobRows([...started].reverse()), tour: await jobRows(ctx.tourJobs),
      });
      return reply.code(200)
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        .send(body);
    });

    home.post('/start', async (request, reply) => {
      if (isCrossSite(request.headers)) return reply.code(403).send({ error: 'cross-site request refused' });
      const job = await LowPriorityDeferred(Customer, ctx.dataSource, ctx.uid, 'rebuildStatements', web.longJobMs);
      started.push({ label: `by ${identities.get(request)!.name}, ${new Date().toLocaleTimeString('en-GB')}`, call: `Customer.rebuildStatements(${web.longJobMs})`, job });
      return reply.code(303).header('location', `/deferred/jobs/${encodeURIComponent(job.id)}?next=/`).send();
    });
  });

  let listening: { port: number; notice?: string };
  try {
    listening = await listen(app, web);
  } catch (err) {
    await app.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://${HOST}:${listening.port}`,
    notice: listening.notice,
    close: () => (closing ??= app.close()),
  };
}
