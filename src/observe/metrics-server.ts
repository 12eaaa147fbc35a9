import { createServer, type Server } from 'node:http';
import { DeferralError } from '../errors.js';
import { deferredMetrics } from './metrics.js';

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves this process's metrics (Prometheus text) at `GET /metrics` on its own port: for a worker,
 * which has no web server. Anything else answers 404. Needs prom-client.
 *
 * @example
 * ```ts
 * const metrics = await serveMetrics({ port: 9464 })
 * ```
 */
export async function serveMetrics({ port, host }: { port: number; host?: string }): Promise<MetricsServer> {
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid metrics port ${String(port)}: a whole number from 0 to 65535`, { option: 'port', value: port });
  }
  const metrics = await deferredMetrics();
  if (!metrics) {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', 'Metrics are off: install prom-client (npm install prom-client), and do not configure({ metrics: false })', { option: 'metrics' });
  }
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
