// The public surface of typeorm-deferred/dashboard: explicit named re-exports only.
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { challenge, makeAuthenticator } from './auth.js';
import { mountBoard } from './board.js';
import { streamJobEvents } from './events.js';
import { metricsScraper, mountMetrics } from './metrics.js';
import { resolveDashboardOptions, type DashboardOptions, type Identity } from './options.js';
import { routes } from './routes.js';
import { JobWatcher } from './watch.js';

export type { DashboardOptions, Identity } from './options.js';
export type { JobView } from './view.js';
export { routes, isCrossSite } from './routes.js';
export type { Route, RouteRequest, RouteResponse } from './routes.js';
export { readableData } from './board.js';

/**
 * The dashboard's authentication for your own routes beside it: the same options
 * (`authenticate`, `tokens`, `basicAuth`), the same constant-time checks.
 *
 * @example
 * ```ts
 * const whoIs = createAuthenticator({ basicAuth: users })
 * app.addHook('onRequest', async (req, reply) => { if (!(await whoIs(req))) return reply.code(401).send() })
 * ```
 */
export function createAuthenticator(options: DashboardOptions): (request: FastifyRequest) => Promise<Identity | undefined> {
  return makeAuthenticator(resolveDashboardOptions(options));
}

/** The WWW-Authenticate value a 401 of these options should carry. */
export function authenticationChallenge(options: DashboardOptions): string {
  return challenge(resolveDashboardOptions(options));
}

/**
 * Answers an error without showing internals to the caller: fastify's own 4xx (a malformed request)
 * keep their message; anything else is logged with its stack and answered 500 with a request id to
 * quote, its message shown to admins only. A throwing `authenticate()` lands here too.
 */
function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply, identity: Identity | undefined): FastifyReply {
  const status = err.statusCode ?? 500;
  reply.header('cache-control', 'no-store');
  if (status >= 400 && status < 500) {
    return reply.code(status).send({ error: err.code?.startsWith('FST_') ? err.message : status === 404 ? 'not found' : 'bad request' });
  }
  request.log.error({ err }, 'typeorm-deferred dashboard: internal error');
  return reply.code(500).send({ error: 'internal error', requestId: request.id, ...(identity?.admin ? { message: err.message } : {}) });
}

/**
 * The typeorm-deferred dashboard as a fastify plugin: bull-board at `/queues` (admins), the job
 * API at `/api/jobs/:id` (+ `/events` as Server-Sent Events, `/cancel` by POST) and a progress
 * page at `/jobs/:id`, Prometheus metrics at `/metrics` (admins and `metricsToken`), all under the
 * prefix you register it with, all behind authentication.
 * Register it after `configure()`.
 *
 * @example
 * ```ts
 * await app.register(dashboardPlugin, { prefix: '/deferred', tokens: { [process.env.DEFERRED_TOKEN!]: { uid: 'ops', admin: true } } })
 * ```
 */
export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app: FastifyInstance, raw: DashboardOptions) => {
  const options = resolveDashboardOptions(raw);
  const authenticate = makeAuthenticator(options);
  const basePath = app.prefix;
  const watcher = new JobWatcher(options.pollIntervalMs);
  const streams = new Set<() => void>();
  // preClose: end live streams before fastify waits for connections to go idle.
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
    watcher.close();
  });

  // Identity per request, kept beside it rather than decorated onto fastify's request type.
  const identities = new WeakMap<FastifyRequest, Identity>();
  const identity = (request: FastifyRequest) => identities.get(request)!;

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const found = (await authenticate(request)) ?? metricsScraper(request, options, basePath);
    if (!found) {
      await reply.code(401).header('www-authenticate', challenge(options)).header('cache-control', 'no-store').send({ error: 'authentication required' });
      return reply;
    }
    identities.set(request, found);
  });

  // Unknown paths under the prefix go through the same hook: 401 before 404, so anonymous callers learn nothing.
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not found' }));
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply, identities.get(request)));

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        const result = await route.handler({
          identity: identity(request),
          params: request.params as Record<string, string>,
          query: request.query as Record<string, unknown>,
          headers: request.headers,
          basePath,
        }, options);
        reply.code(result.status).header('cache-control', 'no-store');
        for (const [k, v] of Object.entries(result.headers ?? {})) reply.header(k, v);
        return reply.send(result.body);
      },
    });
  }
  app.get('/api/jobs/:id/events', (request, reply) => streamJobEvents(request, reply, identity(request), watcher, streams));
  await mountMetrics(app, identity);

  await app.register(async (admin) => {
    admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!identity(request)?.admin) {
        await reply.code(403).send({ error: 'bull-board is for admins' });
        return reply;
      }
    });
    await mountBoard(admin, basePath, options);
  });
};
