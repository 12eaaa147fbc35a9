import { pino, type DestinationStream, type Logger } from 'pino';
import { formatLogLine } from '../observe/logger.js';
import { UsageError, type OptionSpec } from './args.js';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The options of commands that log (worker, dashboard). */
export const LOG_OPTIONS: Record<string, OptionSpec> = {
  'log-format': { type: 'string', value: '<json|pretty>', description: 'JSON lines (default when stdout is not a terminal) or readable lines (default on a terminal).' },
  'log-level': { type: 'string', value: '<level>', description: `${LOG_LEVELS.join(', ')} (default info).` },
};

export interface LogSettings {
  format?: LogFormat;
  level: LogLevel;
}

/** Checks --log-format and --log-level. */
export function logSettings(values: Record<string, string | boolean | undefined>): LogSettings {
  const format = values['log-format'] as string | undefined;
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (format !== undefined && !LOG_FORMATS.includes(format as LogFormat)) throw new UsageError(`invalid --log-format '${format}': json or pretty`);
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`invalid --log-level '${level}': one of ${LOG_LEVELS.join(', ')}`);
  return { format: format as LogFormat | undefined, level: level as LogLevel };
}

/** A pino destination that writes each JSON record as a readable line. */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean }, color = Boolean(out.isTTY) && !process.env.NO_COLOR): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (!text) continue;
        let record: Record<string, unknown> | undefined;
        try {
          record = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // Not a record: pass it on as it is.
        }
        out.write(`${record ? formatLogLine(record, color) : text}\n`);
      }
    },
  };
}

/** The CLI's logger: pino, JSON lines to stdout unless stdout is a terminal (or --log-format says otherwise). */
export function cliLogger({ format, level }: LogSettings): Logger {
  const pretty = (format ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
  return pino({ level }, pretty ? prettyDestination(process.stdout) : pino.destination({ dest: 1, sync: true }));
}
