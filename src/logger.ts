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

function line(fields: object, message?: string): string {
  const { err, ...rest } = fields as { err?: unknown };
  const pairs = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  const stack = err instanceof Error ? `\n${err.stack ?? err.message}` : err === undefined ? '' : ` err=${String(err)}`;
  return `[typeorm-deferred] ${message ?? ''}${pairs ? ` ${pairs}` : ''}${stack}`;
}

/** Without a logger: warnings and errors go to the console, one readable line each; info is silent. */
export const consoleLogger: Logger = {
  info: () => undefined,
  warn: (fields, message) => console.warn(line(fields, message)),
  error: (fields, message) => console.error(line(fields, message)),
};

/** An Error for the `err` field, whatever was thrown. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
