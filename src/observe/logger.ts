/**
 * A pino-compatible logger: `logger.info({ jobId, queue }, 'job completed')`. pino itself,
 * fastify's `app.log`, or anything with these methods fits.
 */
export interface Logger {
  debug?(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** The fields the library logs for one job (pino's `err` key keeps the Error, stack included). */
export interface JobLogFields {
  jobId?: string;
  queue: string;
  /** `Model.method` (or `repository.method`) once the payload is read; `unknown` before. */
  call: string;
  attempt: number;
  durationMs?: number;
  err?: Error;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '31' };
// Fields every line has, or that the readable line shows elsewhere.
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'err']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

const two = (n: number) => String(n).padStart(2, '0');

/** One pino record as a readable line: `HH:MM:SS INFO  message key=value …`, an error's stack indented below. */
export function formatLogLine(record: Record<string, unknown>, color = false): string {
  const at = new Date(typeof record.time === 'number' ? record.time : Date.now());
  const level = typeof record.level === 'number' ? record.level : 30;
  const name = (LEVEL_NAMES[level] ?? `L${level}`).padEnd(5);
  const shown = color ? `\x1b[${LEVEL_COLORS[level] ?? '0'}m${name}\x1b[0m` : name;
  const fields = Object.entries(record).filter(([k, v]) => !HIDDEN.has(k) && v !== undefined).map(([k, v]) => `${k}=${fieldValue(v)}`);
  const err = record.err as { message?: string; stack?: string } | undefined;
  if (err && !err.stack && err.message) fields.push(`err=${fieldValue(err.message)}`);
  let line = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())} ${shown} ${String(record.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}`;
  if (err?.stack) line += `\n${err.stack.split('\n').map((l) => `    ${l.trimStart()}`).join('\n')}`;
  return line;
}

const toConsole = (level: number, write: (line: string) => void) => (fields: object, message?: string) =>
  write(formatLogLine({ ...fields, level, time: Date.now(), msg: `[typeorm-deferred] ${message ?? ''}` }));

/** Without a logger: warnings and errors go to the console, one readable line each; info is silent. */
export const consoleLogger: Logger = {
  info: () => undefined,
  warn: toConsole(40, (line) => console.warn(line)),
  error: toConsole(50, (line) => console.error(line)),
};

/** An Error for the `err` field, whatever was thrown. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
