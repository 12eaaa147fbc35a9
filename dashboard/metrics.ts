import type { FastifyInstance, FastifyRequest } from 'fastify';
import { deferredMetrics } from '../src/observe/metrics.js';
import { sameSecret } from './auth.js';
import type { Identity, ResolvedDashboardOptions } from './options.js';

/** The identity of a scraper that presented `metricsToken` on the metrics route (and nowhere else). */
export function metricsScraper(request: FastifyRequest, options: ResolvedDashboardOptions, basePath: string): Identity | undefined {
  if (!options.metricsToken || request.routeOptions.url !== `${basePath}/metrics`) return undefined;
  const [scheme, value = ''] = (request.headers.authorization ?? '').split(' ', 2);
  return /^bearer$/i.test(scheme ?? '') && sameSecret(value, options.metricsToken) ? { uid: 'metrics', metricsOnly: true } : undefined;
}

/**
 * `GET /metrics`: the Prometheus text of the registry the library's metrics live in (prom-client's
 * default one unless `configure({ metrics: { registry } })`), for admins and the metrics token.
 */
export async function mountMetrics(app: FastifyInstance, identity: (request: FastifyRequest) => Identity): Promise<void> {
  // Created now, so the gauges and counters are there from the first scrape.
  const metrics = await deferredMetrics();
  app.get('/metrics', async (request, reply) => {
    const who = identity(request);
    reply.header('cache-control', 'no-store');
    if (!who.admin && !who.metricsOnly) return reply.code(403).send({ error: 'metrics are for admins and the metrics token' });
    if (!metrics) return reply.code(404).send({ error: 'metrics are off: install prom-client, and do not configure({ metrics: false })' });
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
