/**
 * The one registry of error codes. Every code is documented here and in the
 * README (a unit test checks both), and every error the library throws on
 * purpose is a {@link DeferralError} carrying one of these codes.
 */
export const ERROR_CODES = {
  DEFER_ERR_NOT_CONFIGURED: 'configure() has not been called in this process.',
  DEFER_ERR_UNKNOWN_DATA_SOURCE: 'The data source is not registered in configure({ dataSources }).',
  DEFER_ERR_UNKNOWN_MODEL: 'The model is not an entity of the data source, nor a registered repository.',
  DEFER_ERR_METHOD_NOT_DEFERRABLE: 'The method is missing or not marked with @Deferrable() (or is not a registered repository method).',
  DEFER_ERR_INVALID_OPTION: 'An option passed to DeferredType(), configure() or startWorker() has an invalid value.',
  DEFER_ERR_UNSERIALIZABLE_ARGUMENT: 'An argument cannot round-trip through superjson (function, symbol, class instance, cycle).',
  DEFER_ERR_UNSAVED_RECORD: 'A record passed as model or argument has no primary key yet.',
  DEFER_ERR_RECORD_NOT_FOUND: 'A record referenced by the job no longer exists when the worker reloads it.',
  DEFER_ERR_NOT_AUTHORIZED: 'configure({ authorize }) refused the call for this uid.',
  DEFER_ERR_BAD_PAYLOAD: 'The job data is not a payload this version understands: garbage, not JSON, an unknown version, a record reference that is not exactly a primary key of the right type, or superjson data that does not decode.',
  DEFER_ERR_JOB_FAILED: 'The job failed; the error carries the remote message, stack and code.',
  DEFER_ERR_TIMEOUT: 'The job ran longer than its timeout, or result({ timeoutMs }) waited too long.',
  DEFER_ERR_CANCELLED: 'The job was cancelled before it ran.',
  DEFER_ERR_JOB_NOT_FOUND: 'No job with this id exists (never created, or removed by retention).',
  DEFER_ERR_REDIS_UNAVAILABLE: 'Redis did not take the job (unreachable, or it refused the command); without a job table the job was not enqueued.',
  DEFER_ERR_PAYLOAD_TOO_LARGE: 'The call does not fit: its payload, its result, or its record keys are larger than the limit (maxPayloadBytes, or a job table column).',
  DEFER_ERR_STALLED: 'The worker running the job died (or lost its lock) more often than startWorker({ maxStalls }) allows; the job may be what kills it.',
  DEFER_ERR_UNKNOWN_TASK: 'No task is defined under this name (defineTask) in the process that runs it.',
  DEFER_ERR_INVALID_PAYLOAD: "A task's payload failed its validate function or schema, at submitTask() or in the worker.",
} as const;

/** A stable error code; see {@link ERROR_CODES}. */
export type DeferralErrorCode = keyof typeof ERROR_CODES;

/** Codes after which a job is not retried: retrying cannot change the outcome. */
export const UNRECOVERABLE_CODES: ReadonlySet<DeferralErrorCode> = new Set<DeferralErrorCode>([
  'DEFER_ERR_UNKNOWN_DATA_SOURCE',
  'DEFER_ERR_UNKNOWN_MODEL',
  'DEFER_ERR_METHOD_NOT_DEFERRABLE',
  'DEFER_ERR_RECORD_NOT_FOUND',
  'DEFER_ERR_NOT_AUTHORIZED',
  'DEFER_ERR_BAD_PAYLOAD',
  'DEFER_ERR_UNSERIALIZABLE_ARGUMENT',
  'DEFER_ERR_CANCELLED',
  'DEFER_ERR_PAYLOAD_TOO_LARGE',
  'DEFER_ERR_STALLED',
  'DEFER_ERR_UNKNOWN_TASK',
  'DEFER_ERR_INVALID_PAYLOAD',
]);

/**
 * The base class of every error the library throws on purpose.
 *
 * @example
 * ```ts
 * try { await job.result() } catch (err) {
 *   if (err instanceof DeferralError && err.code === 'DEFER_ERR_JOB_FAILED') console.error(err.remoteStack)
 * }
 * ```
 */
export class DeferralError extends Error {
  /** The stable code, one of {@link ERROR_CODES}. */
  readonly code: DeferralErrorCode;
  /** Structured facts about the failure (option name, job id, argument path…). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: DeferralErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    // Like Node's own errors, put the code in the stack header ("DeferralError [CODE]: …"):
    // BullMQ stores only message and stack, and a worker's code must survive the trip.
    this.name = `DeferralError [${code}]`;
    void this.stack;
    this.name = 'DeferralError';
  }
}

/** Reads the code back out of a stack header written by {@link DeferralError}. */
export function codeFromStack(stack: string | undefined): DeferralErrorCode | undefined {
  const m = /^(?:\w+Error) \[(DEFER_ERR_[A-Z_]+)\]/.exec(stack ?? '');
  return m && m[1] in ERROR_CODES ? (m[1] as DeferralErrorCode) : undefined;
}

/** True when `err` is a DeferralError with the given code. */
export function isDeferralError(err: unknown, code?: DeferralErrorCode): err is DeferralError {
  return err instanceof DeferralError && (code === undefined || err.code === code);
}
