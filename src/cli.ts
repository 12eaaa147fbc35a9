#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect, parseArgs } from 'node:util';
import { closeDeferred, configure, getConfig, type DeferredConfig } from './config.js';
import { DeferralError } from './errors.js';
import { getJob } from './job.js';
import { QUEUE_NAMES, validateConcurrency, type QueueConcurrency } from './options.js';
import { startWorker } from './worker.js';

const USAGE = `Usage: deferred <command> [options]

Commands:
  worker --config <module>        Run a worker until SIGTERM/SIGINT.
      --queues high=2,default=1,low=1   Concurrency per queue (0 skips a queue).
      --shutdown-timeout <ms>     Grace period for active jobs on shutdown (default 30000).
      --quiet                     Do not log a line per finished job.
  dashboard --config <module> [--port 3000] [--host 127.0.0.1]
                                  Serve bull-board, the job API and progress pages.
                                  Options come from the module's named export
                                  \`dashboard\`; without it, an admin login is generated.
  status <jobId> [--config <module>] [--json]
                                  Print a job's state, progress and result or error.
                                  Without --config: REDIS_URL and --prefix (default 'deferred').
  help                            Show this text.

The config module is compiled JavaScript whose default export is defineConfig({...})
(or a function returning it, possibly async), or which calls configure() itself.`;

/** Loads a config module, configures this process from it, and returns the module. */
async function loadConfig(path: string): Promise<Record<string, unknown>> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  let config = mod.default;
  if (typeof config === 'function') config = await (config as () => unknown)();
  if (config && typeof config === 'object' && 'dataSources' in config) configure(config as DeferredConfig);
  getConfig();
  return mod;
}

async function dashboard(values: Record<string, string | boolean | undefined>): Promise<number> {
  if (typeof values.config !== 'string') throw new DeferralError('DEFER_ERR_NOT_CONFIGURED', 'deferred dashboard needs --config <module>', {});
  const port = Number(values.port ?? 3000);
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid --port ${JSON.stringify(values.port)}: a port number`, { option: 'port', value: values.port });
  const mod = await loadConfig(values.config);
  // Imported here so that `deferred worker` never needs fastify or bull-board.
  const [{ default: Fastify }, { dashboardPlugin }] = await Promise.all([import('fastify'), import('../dashboard/index.js')]);
  let options = mod.dashboard as Record<string, unknown> | undefined;
  let generated: string | undefined;
  if (!options) {
    generated = randomBytes(12).toString('base64url');
    options = { basicAuth: { admin: { password: generated, uid: 'admin', admin: true } } };
  }
  const app = Fastify();
  await app.register(dashboardPlugin, options);
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  await app.listen({ port, host });
  const { port: actual } = app.server.address() as { port: number };
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  console.log(`[typeorm-deferred] dashboard on ${base}/queues (prefix ${getConfig().prefix}); job API ${base}/api/jobs/<id>, progress pages ${base}/jobs/<id>`);
  if (generated) console.log(`[typeorm-deferred] no \`dashboard\` export in the config module: log in as admin / ${generated}`);
  const stop = () => {
    void app.close().then(closeDeferred).then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise<number>(() => undefined);
}

function parseQueues(spec: string | undefined): QueueConcurrency | undefined {
  if (!spec) return undefined;
  const out: Record<string, number> = {};
  for (const part of spec.split(',')) {
    const [name, n] = part.split('=');
    if (!name || n === undefined || !/^\d+$/.test(n.trim())) {
      throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid --queues part ${JSON.stringify(part)}: write name=concurrency, e.g. high=2,default=1,low=0`, { option: 'queues', value: spec });
    }
    out[name.trim()] = Number(n);
  }
  return out;
}

async function worker(values: Record<string, string | boolean | undefined>): Promise<number> {
  if (typeof values.config !== 'string') throw new DeferralError('DEFER_ERR_NOT_CONFIGURED', 'deferred worker needs --config <module>', {});
  const queues = parseQueues(values.queues as string | undefined);
  validateConcurrency(queues);
  const timeout = values['shutdown-timeout'] === undefined ? undefined : Number(values['shutdown-timeout']);
  await loadConfig(values.config);
  const w = await startWorker({
    queues,
    shutdownTimeoutMs: timeout,
    handleSignals: true,
    verbose: !values.quiet,
    logger: { info: (f, m) => console.log(m ?? f), warn: (f, m) => console.warn(m, f), error: (f, m) => console.error(m, f) },
  });
  const consuming = QUEUE_NAMES.filter((q) => w.concurrency[q] > 0).map((q) => `${q}=${w.concurrency[q]}`).join(' ');
  console.log(`[typeorm-deferred] worker ${process.pid} consuming ${consuming} (prefix ${getConfig().prefix}); stop with SIGTERM or Ctrl-C`);
  // startWorker's signal handler closes the worker and exits 0.
  return new Promise<number>(() => undefined);
}

async function status(id: string | undefined, values: Record<string, string | boolean | undefined>): Promise<number> {
  if (!id) throw new DeferralError('DEFER_ERR_JOB_NOT_FOUND', 'deferred status needs a job id', {});
  if (typeof values.config === 'string') await loadConfig(values.config);
  else configure({ dataSources: {}, prefix: (values.prefix as string | undefined) ?? 'deferred' });
  try {
    const job = await getJob(id);
    if (!job) {
      if (values.json) console.log(JSON.stringify({ id, state: 'unknown' }));
      else console.error(`No job ${id} on queues ${QUEUE_NAMES.join(', ')} (prefix ${getConfig().prefix})`);
      return 1;
    }
    const s = await job.snapshot();
    if (values.json) {
      console.log(JSON.stringify(s, null, 2));
      return 0;
    }
    const rows: Array<[string, unknown]> = [
      ['job', s.id], ['queue', s.queue], ['name', s.name], ['uid', s.uid], ['state', s.state],
      ['progress', `${s.percent}%${s.message ? `  ${s.message}` : ''}`],
      ['attempts', `${s.attemptsMade} of ${s.attempts}`],
      ['created', s.createdAt?.toISOString()], ['runs at', s.runAt?.toISOString()],
      ['started', s.startedAt?.toISOString()], ['finished', s.finishedAt?.toISOString()],
    ];
    for (const [k, v] of rows) if (v !== undefined) console.log(`${k.padEnd(9)} ${v}`);
    if (s.state === 'completed') console.log(`result    ${inspect(s.result, { depth: 6, colors: false })}`);
    if (s.error) console.log(`error     ${s.error.code ? `[${s.error.code}] ` : ''}${s.error.message}\n${s.error.stack ?? ''}`);
    return 0;
  } finally {
    await closeDeferred();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      queues: { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
      prefix: { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || command === 'help') {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'worker') return worker(values);
  if (command === 'dashboard') return dashboard(values);
  if (command === 'status') return status(rest[0], values);
  console.error(`Unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(err instanceof DeferralError ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  },
);
