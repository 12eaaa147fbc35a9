import { randomBytes } from 'node:crypto';
import type { CommandSpec, ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';
import { cliLogger, LOG_OPTIONS, logSettings, type LogSettings } from './logger.js';
import { CONFIG_NOTE, requiredConfig, wholeNumber } from './worker.js';

export const DASHBOARD: CommandSpec = {
  name: 'dashboard',
  summary: `Serve bull-board, the job API and progress pages until SIGTERM or SIGINT.
Options come from the config module's named export \`dashboard\`; without it, an admin
login is generated and logged.`,
  positionals: [],
  options: {
    config: { type: 'string', short: 'c', value: '<module>', description: 'The config module (required).' },
    port: { type: 'string', short: 'p', value: '<port>', description: 'Port to listen on (default 3000; 0 picks a free one).' },
    host: { type: 'string', value: '<host>', description: 'Address to listen on (default 127.0.0.1).' },
    ...LOG_OPTIONS,
  },
  notes: CONFIG_NOTE,
};

export interface DashboardCommandOptions {
  config: string;
  port: number;
  host: string;
  log: LogSettings;
}

export function parseDashboard(values: ParsedValues): DashboardCommandOptions {
  return {
    config: requiredConfig(values),
    port: wholeNumber(values, 'port', 65535) ?? 3000,
    host: typeof values.host === 'string' ? values.host : '127.0.0.1',
    log: logSettings(values),
  };
}

export async function runDashboard(o: DashboardCommandOptions): Promise<number> {
  const logger = cliLogger(o.log);
  const mod = await loadConfig(o.config);
  const { closeDeferred, getConfig } = await import('../config.js');
  // Imported here so that `deferred worker` never needs fastify or bull-board.
  const [{ default: Fastify }, { dashboardPlugin }] = await Promise.all([import('fastify'), import('../../dashboard/index.js')]);
  let options = mod.dashboard as Record<string, unknown> | undefined;
  let generated: string | undefined;
  if (!options) {
    generated = randomBytes(12).toString('base64url');
    options = { basicAuth: { admin: { password: generated, uid: 'admin', admin: true } } };
  }
  // Request lines only at --log-level debug: progress pages poll and stream a lot.
  const app = Fastify({ loggerInstance: logger, disableRequestLogging: !logger.isLevelEnabled('debug') });
  await app.register(dashboardPlugin, options);
  await app.listen({ port: o.port, host: o.host });
  const { port } = app.server.address() as { port: number };
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  logger.info({ url, prefix: getConfig().prefix }, `dashboard on ${url}/queues; job API ${url}/api/jobs/<id>, progress pages ${url}/jobs/<id>`);
  if (generated) logger.warn({ user: 'admin', password: generated }, 'no `dashboard` export in the config module: log in as admin with the generated password');
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'dashboard stopping');
    void app.close().then(closeDeferred).then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise<number>(() => undefined);
}
