import { inspect } from 'node:util';
import type { DeferredJob, JobSnapshot } from '../job/job.js';
import { QUEUE_NAMES } from '../options.js';
import type { CommandSpec, ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';
import { parseConnection } from './connection.js';
import { EXIT, statusExitCode } from './exit-codes.js';
import { followJob } from './follow.js';
import { renderProgress } from './progress-bar.js';
import { CONFIG_NOTE } from './worker.js';

export const STATUS: CommandSpec = {
  name: 'status',
  summary: `Print a job's state, progress and result or error. Reads only: writes nothing to Redis.
Without --config it reads REDIS_URL (default redis://127.0.0.1:6379) and --prefix.`,
  positionals: [{ name: 'jobId', description: 'The job id (job.id of the handle Deferred() returned).' }],
  options: {
    config: { type: 'string', short: 'c', value: '<module>', description: 'The config module: its Redis, prefix and data sources.' },
    prefix: { type: 'string', value: '<prefix>', description: "BullMQ key prefix, without --config (default 'deferred')." },
    json: { type: 'boolean', description: 'Print the snapshot as JSON.' },
    follow: { type: 'boolean', short: 'f', description: 'Follow the job until it ends: a progress bar on a terminal, one JSON line per change otherwise.' },
  },
  notes: `Exit codes: 0 completed, 1 failed or cancelled, 3 no such job, 4 not finished yet
(pending, waiting, delayed or active; --follow waits, so it never exits 4),
2 a usage error, 1 also for an error (Redis unreachable, bad config module).

${CONFIG_NOTE}`,
};

export interface StatusCommandOptions {
  id: string;
  config?: string;
  prefix: string;
  json: boolean;
  follow: boolean;
}

export function parseStatus(values: ParsedValues, [id]: string[]): StatusCommandOptions {
  const { config, prefix } = parseConnection(values);
  return { id, config, prefix, json: values.json === true, follow: values.follow === true };
}

/** The snapshot as aligned `key value` lines, then the result or the error. */
export function describeSnapshot(s: JobSnapshot): string {
  const rows: Array<[string, unknown]> = [
    ['job', s.id], ['queue', s.queue], ['name', s.name], ['uid', s.uid], ['state', s.state],
    ['progress', `${s.percent}%${s.message ? `  ${s.message}` : ''}`],
    ['attempts', `${s.attemptsMade} of ${s.attempts}`],
    ['created', s.createdAt?.toISOString()], ['runs at', s.runAt?.toISOString()],
    ['started', s.startedAt?.toISOString()], ['finished', s.finishedAt?.toISOString()],
  ];
  const lines = rows.filter(([, v]) => v !== undefined).map(([k, v]) => `${k.padEnd(9)} ${v}`);
  if (s.state === 'completed') lines.push(`result    ${inspect(s.result, { depth: 6, colors: false })}`);
  if (s.error) lines.push(`error     ${s.error.code ? `[${s.error.code}] ` : ''}${s.error.message}${s.error.stack ? `\n${s.error.stack}` : ''}`);
  return lines.join('\n');
}

/** Follows the job: a line rewritten in place on a terminal, else one JSON line per change. */
async function follow(job: DeferredJob, json: boolean): Promise<JobSnapshot> {
  const out = process.stdout;
  if (json || !out.isTTY) return followJob(job, (s) => out.write(`${JSON.stringify(s)}\n`));
  // Ctrl-C leaves the bar's line finished, and exits as an interrupted command does.
  const interrupted = () => {
    out.write('\n');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    const last = await followJob(job, (s) => out.write(`\r${renderProgress(s, out.columns)}\x1b[K`));
    out.write(`\n${describeSnapshot(last)}\n`);
    return last;
  } finally {
    process.off('SIGINT', interrupted);
  }
}

export async function runStatus(o: StatusCommandOptions): Promise<number> {
  // Loaded here: --help, --version and usage errors need neither BullMQ nor TypeORM.
  const [{ closeDeferred, configure, getConfig }, { getJob }] = await Promise.all([import('../config.js'), import('../job/job.js')]);
  if (o.config) await loadConfig(o.config);
  else configure({ dataSources: {}, prefix: o.prefix });
  const dataSources = Object.values(getConfig().dataSources);
  try {
    const job = await getJob(o.id);
    if (!job) {
      if (o.json || o.follow) console.log(JSON.stringify({ id: o.id, state: 'unknown' }));
      console.error(`No job ${o.id} on queues ${QUEUE_NAMES.join(', ')} (prefix ${getConfig().prefix})`);
      return EXIT.notFound;
    }
    const s = o.follow ? await follow(job, o.json) : await job.snapshot();
    if (!o.follow) console.log(o.json ? JSON.stringify(s, null, 2) : describeSnapshot(s));
    return statusExitCode(s.state);
  } finally {
    await closeDeferred();
    // The config module's data sources, if it opened them: nothing else may keep this process alive.
    await Promise.allSettled(dataSources.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
  }
}
