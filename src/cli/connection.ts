import { nameProblem } from '../limits.js';
import { UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { loadConfig } from './config-module.js';

/** Where a command finds Redis: a config module, or REDIS_URL and a prefix. */
export interface ConnectionArgs {
  config?: string;
  prefix: string;
}

export const CONNECTION_OPTIONS: CommandSpec['options'] = {
  config: { type: 'string', short: 'c', value: '<module>', description: 'The config module: its Redis and prefix.' },
  prefix: { type: 'string', value: '<prefix>', description: "BullMQ key prefix, without --config (default 'deferred')." },
};

/** `--config m | --prefix p`, one or neither. */
export function parseConnection(values: ParsedValues): ConnectionArgs {
  const config = values.config as string | undefined;
  const prefix = values.prefix as string | undefined;
  if (config !== undefined && prefix !== undefined) throw new UsageError('give --config or --prefix, not both: the config module sets the prefix');
  const problem = prefix === undefined ? undefined : nameProblem(prefix);
  if (problem) throw new UsageError(`invalid --prefix '${prefix}': ${problem}`);
  return { config, prefix: prefix ?? 'deferred' };
}

/** Configures this process from --config, or REDIS_URL and --prefix, runs `work`, then closes what it opened. */
export async function withConnection<T>(o: ConnectionArgs, work: (prefix: string) => Promise<T>): Promise<T> {
  // Loaded here: --help, --version and usage errors need neither BullMQ nor TypeORM.
  const { closeDeferred, configure, getConfig } = await import('../config.js');
  if (o.config) await loadConfig(o.config);
  else configure({ dataSources: {}, prefix: o.prefix });
  const dataSources = Object.values(getConfig().dataSources);
  try {
    return await work(getConfig().prefix);
  } finally {
    await closeDeferred();
    // The config module's data sources, if it opened them: nothing else may keep this process alive.
    await Promise.allSettled(dataSources.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
  }
}
