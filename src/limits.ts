// The sizes a call must fit, checked at enqueue so that a database or Redis never refuses it later.

/** The longest job id: the job table's `id` column is `varchar(128)`. */
export const MAX_JOB_ID_LENGTH = 128;
/** The longest uid, as a string: the job table's `uid` column is `varchar(255)`. */
export const MAX_UID_LENGTH = 255;
/** How deep arguments may nest; deeper data is refused at enqueue, and in a payload read by a worker. */
export const MAX_ARG_DEPTH = 100;
/** The default of `configure({ maxPayloadBytes })`: a payload is what a worker needs to find the data, not the data. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024;
/** The job table's `recordKeys` column is `varchar(2048)`. */
export const MAX_RECORD_KEYS_LENGTH = 2048;
/** A `text` column on MySQL/MariaDB holds this many bytes (the job table's payload and result). */
export const MYSQL_TEXT_BYTES = 65_535;
/** Error messages and progress messages kept in the job table are cut to this many characters. */
export const MAX_STORED_TEXT = 4000;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** True when `text` holds a control character (NUL included, which PostgreSQL refuses in text). */
export const hasControlChars = (text: string): boolean => CONTROL.test(text);

/** The id BullMQ gives a schedule's job: `repeat:<schedule name>:<tick in epoch ms>`. */
const SCHEDULED_JOB_ID = /^repeat:[A-Za-z0-9][A-Za-z0-9_.-]{0,99}:\d{1,16}$/;

/** True when `id` has the shape of an id a job can have (BullMQ's own integer ids and a schedule's job ids included): worth looking up. */
export function isJobIdShape(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_JOB_ID_LENGTH && (!id.includes(':') || SCHEDULED_JOB_ID.test(id)) && !hasControlChars(id);
}

/** Why `id` cannot be a custom job id, or undefined when it can. */
export function jobIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return 'must be a non-empty string';
  if (id.length > MAX_JOB_ID_LENGTH) return `must be at most ${MAX_JOB_ID_LENGTH} characters long (it has ${id.length})`;
  if (id.includes(':')) return "must not contain ':' (BullMQ uses it in its keys)";
  if (hasControlChars(id)) return 'must not contain control characters';
  if (`${parseInt(id, 10)}` === id) return 'must not be an integer (BullMQ reserves those for its own ids)';
  return undefined;
}

/** Why `name` cannot be a name the library keeps (a repository, a data source, a prefix), or undefined when it can. */
export function nameProblem(name: unknown, max = 255): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  if (name.length > max) return `must be at most ${max} characters long (it has ${name.length})`;
  if (hasControlChars(name)) return 'must not contain control characters';
  return undefined;
}

/** Why `uid` cannot be a uid, or undefined when it can. */
export function uidProblem(uid: unknown): string | undefined {
  if (typeof uid === 'number') return Number.isFinite(uid) ? undefined : 'must be a finite number';
  if (typeof uid !== 'string') return 'must be a string or a finite number';
  if (uid.length > MAX_UID_LENGTH) return `must be at most ${MAX_UID_LENGTH} characters long (it has ${uid.length})`;
  if (hasControlChars(uid)) return 'must not contain control characters';
  return undefined;
}

/** Cuts a text kept in the job table to {@link MAX_STORED_TEXT} characters. */
export function storedText(text: string): string;
export function storedText(text: string | null): string | null;
export function storedText(text: string | null): string | null {
  return text !== null && text.length > MAX_STORED_TEXT ? `${text.slice(0, MAX_STORED_TEXT - 1)}…` : text;
}
