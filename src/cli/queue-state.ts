import { QUEUE_NAMES, type QueueName } from '../options.js';
import { suggest, UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';
import { CONNECTION_OPTIONS, parseConnection } from './connection.js';
import { EXIT } from './exit-codes.js';
import { CONFIG_NOTE } from './worker.js';

function queueStateSpec(name: 'pause' | 'resume', summary: string): CommandSpec {
  return {
    name,
    summary: `${summary}
Without --config it reads REDIS_URL (default redis://127.0.0.1:6379) and --prefix.`,
    positionals: [{ name: 'queue', description: `The queue: ${QUEUE_NAMES.join(', ')}.` }],
    options: CONNECTION_OPTIONS,
    notes: `Prints the queue's new state. Exit codes: 0 done, 2 a usage error (unknown queue),
1 an error (Redis unreachable, bad config module).

${CONFIG_NOTE}`,
  };
}

export const PAUSE = queueStateSpec('pause', `Pause a queue for every worker, in every process: running jobs finish, no new one starts
until 'deferred resume'. Deferred() still accepts jobs; they wait. Same as bull-board's pause button.`);

export const RESUME = queueStateSpec('resume', 'Resume a paused queue: its workers start its waiting jobs again, in their usual order.');

export interface QueueStateCommandOptions {
  queue: QueueName;
  paused: boolean;
  config?: string;
  prefix: string;
}

/** Checks `<queue> [--config m | --prefix p]`; `paused` is the state asked for. */
export function parseQueueState(values: ParsedValues, [queue]: string[], paused: boolean): QueueStateCommandOptions {
  if (!QUEUE_NAMES.includes(queue as QueueName)) {
    const guess = suggest(queue, QUEUE_NAMES);
    throw new UsageError(`unknown queue '${queue}': one of ${QUEUE_NAMES.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  return { queue: queue as QueueName, paused, ...parseConnection(values) };
}

/** Pauses or resumes the queue, then prints what Redis now says: `queue low is paused (prefix deferred)`. */
export async function runQueueState(o: QueueStateCommandOptions): Promise<number> {
  // Loaded here: --help, --version and usage errors need neither BullMQ nor TypeORM.
  const [{ closeDeferred, configure, getConfig }, control] = await Promise.all([import('../config.js'), import('../job/queue-control.js')]);
  if (o.config) await loadConfig(o.config);
  else configure({ dataSources: {}, prefix: o.prefix });
  const dataSources = Object.values(getConfig().dataSources);
  try {
    await (o.paused ? control.pauseQueue(o.queue) : control.resumeQueue(o.queue));
    const paused = await control.isQueuePaused(o.queue);
    console.log(`queue ${o.queue} is ${paused ? 'paused' : 'not paused'} (prefix ${getConfig().queuePrefixes[o.queue]})`);
    return EXIT.ok;
  } finally {
    await closeDeferred();
    // The config module's data sources, if it opened them: nothing else may keep this process alive.
    await Promise.allSettled(dataSources.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
  }
}
