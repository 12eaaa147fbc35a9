import type { CleanState } from '../job/clean.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';
import { parseConnection } from './connection.js';
import { EXIT } from './exit-codes.js';
import { CONFIG_NOTE } from './worker.js';

export const CLEAN: CommandSpec = {
  name: 'clean',
  summary: `Remove finished jobs (completed, failed) older than a duration from Redis and, with --config
whose data sources have the job table, their rows. Waiting, delayed and active jobs are never touched.
Without --config it reads REDIS_URL (default redis://127.0.0.1:6379) and --prefix.`,
  positionals: [],
  options: {
    'older-than': { type: 'string', value: '<duration>', description: 'Jobs that finished longer ago than this: 7d, 12h, 30m, 90s, 500ms or ms (required).' },
    state: { type: 'string', value: '<states>', description: 'completed, failed or completed,failed (required; failed includes cancelled jobs).' },
    queues: { type: 'string', value: '<names>', description: `Only these queues, e.g. high,low (default ${QUEUE_NAMES.join(',')}).` },
    config: { type: 'string', short: 'c', value: '<module>', description: 'The config module: its Redis, prefix and data sources (their job table rows are removed too).' },
    prefix: { type: 'string', value: '<prefix>', description: "BullMQ key prefix, without --config (default 'deferred')." },
    json: { type: 'boolean', description: 'Print what was removed as JSON.' },
  },
  notes: `Example: deferred clean --older-than 7d --state completed,failed --config dist/deferred.config.js
Works in batches of 1000 so a big backlog never blocks Redis for long.

${CONFIG_NOTE}`,
};

export interface CleanCommandOptions {
  olderThanMs: number;
  states: CleanState[];
  queues?: QueueName[];
  config?: string;
  prefix: string;
  json: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `7d`, `12h`, `30m`, `90s`, `500ms` or a plain number of ms, as ms; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms'];
  return Number.isSafeInteger(Math.round(ms)) ? Math.round(ms) : undefined;
}

/** A comma-separated list, each item one of `allowed`, or a usage error naming the option. */
function list<T extends string>(values: ParsedValues, name: string, allowed: readonly T[], hint = ''): T[] | undefined {
  const text = values[name];
  if (typeof text !== 'string') return undefined;
  const items = text.split(',').map((s) => s.trim());
  const bad = items.find((s) => !allowed.includes(s as T));
  if (bad !== undefined) throw new UsageError(`invalid --${name} '${text}': ${bad ? `'${bad}' is not one of` : 'an empty item; use'} ${allowed.join(', ')}${hint}`);
  return [...new Set(items as T[])];
}

export function parseClean(values: ParsedValues): CleanCommandOptions {
  const { config, prefix } = parseConnection(values);
  const olderThan = values['older-than'];
  if (typeof olderThan !== 'string') throw new UsageError('missing --older-than <duration>, e.g. --older-than 7d');
  const olderThanMs = parseDuration(olderThan);
  if (olderThanMs === undefined) throw new UsageError(`invalid --older-than '${olderThan}': a duration such as 7d, 12h, 30m, 90s, 500ms or a number of ms`);
  const states = list<CleanState>(values, 'state', ['completed', 'failed'], ' (cancelled jobs are failed jobs)');
  if (!states) throw new UsageError('missing --state <states>, e.g. --state completed,failed');
  return { olderThanMs, states, queues: list<QueueName>(values, 'queues', QUEUE_NAMES), config, prefix, json: values.json === true };
}

export async function runClean(o: CleanCommandOptions): Promise<number> {
  // Loaded here: --help, --version and usage errors need neither BullMQ nor TypeORM.
  const [{ closeDeferred, configure, getConfig }, { cleanJobs }, { recordingSources }] = await Promise.all([import('../config.js'), import('../job/clean.js'), import('../outbox/records.js')]);
  if (o.config) await loadConfig(o.config);
  else configure({ dataSources: {}, prefix: o.prefix });
  // The job table is known once a data source is open: open those the config module did not, and close only those.
  const opened = Object.values(getConfig().dataSources).filter((ds) => !ds.isInitialized);
  try {
    for (const ds of opened) await ds.initialize();
    const before = new Date(Date.now() - o.olderThanMs).toISOString();
    const { removed, rows } = await cleanJobs({ olderThanMs: o.olderThanMs, states: o.states, queues: o.queues });
    const queues = o.queues ?? QUEUE_NAMES;
    if (o.json) console.log(JSON.stringify({ removed, rows, states: o.states, queues, finishedBefore: before }));
    else {
      console.log(`Removed ${removed} job${removed === 1 ? '' : 's'} from Redis (${o.states.join(', ')}; queues ${queues.join(', ')}; prefix ${getConfig().prefix}; finished before ${before})`);
      console.log(recordingSources().length ? `Removed ${rows} row${rows === 1 ? '' : 's'} from the job table` : 'No job table (no data source of --config has DeferredJobRecord): no rows to remove');
    }
    return EXIT.ok;
  } finally {
    await closeDeferred();
    await Promise.allSettled(opened.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
  }
}
