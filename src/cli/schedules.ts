import { describeTarget, describeWhen } from '../schedule/describe.js';
import type { ScheduleInfo } from '../schedule/schedule.js';
import { UsageError, type CommandSpec, type ParsedValues } from './args.js';
import { CONNECTION_OPTIONS, parseConnection, withConnection, type ConnectionArgs } from './connection.js';
import { EXIT } from './exit-codes.js';
import { CONFIG_NOTE } from './worker.js';

const CONFIG_ORIGIN_NOTE = `A schedule of origin config is declared in the config module's schedules: removed by hand, it
comes back when a worker starts with that config, or within 10 s while one runs. Remove it from the config
module to remove it for good.`;

export const SCHEDULES: CommandSpec = {
  name: 'schedules',
  summary: `List the schedules: name, queue, when each fires, what it runs, where it comes from, its next run
and its last (how the attempt ended, when it started, the job id). Reads only: writes nothing to Redis.
Without --config it reads REDIS_URL (default redis://127.0.0.1:6379) and --prefix.`,
  positionals: [],
  options: {
    ...CONNECTION_OPTIONS,
    json: { type: 'boolean', description: 'Print the list as JSON (as listSchedules() returns it).' },
  },
  notes: `Origin: config, declared in the config module's schedules and kept in step by workers; api, made
by schedule(). Next run: 'ended' once the schedule's limit or end date is reached. Last run: '-' until
a job of the schedule has run.

To remove one: deferred schedules remove <name> (see deferred schedules remove --help).
${CONFIG_ORIGIN_NOTE}

Exit codes: 0 done (also when there is no schedule), 2 a usage error,
1 an error (Redis unreachable, bad config module).

${CONFIG_NOTE}`,
};

export const SCHEDULES_REMOVE: CommandSpec = {
  name: 'schedules remove',
  summary: `Remove a schedule, as unschedule() does: it makes no more jobs, and its next job is removed unless a
worker already runs it; the jobs that ran stay.
Without --config it reads REDIS_URL (default redis://127.0.0.1:6379) and --prefix.`,
  positionals: [{ name: 'name', description: "The schedule's name, as 'deferred schedules' lists it." }],
  options: CONNECTION_OPTIONS,
  notes: `${CONFIG_ORIGIN_NOTE}

Exit codes: 0 removed, 3 no such schedule, 2 a usage error (a schedule's name is 1 to 100 letters,
digits, '_', '.' or '-', starting with a letter or digit), 1 an error (Redis unreachable, bad config module).

${CONFIG_NOTE}`,
};

export interface SchedulesCommandOptions extends ConnectionArgs {
  json: boolean;
}

export interface ScheduleRemoveCommandOptions extends ConnectionArgs {
  name: string;
}

export function parseSchedules(values: ParsedValues): SchedulesCommandOptions {
  return { ...parseConnection(values), json: values.json === true };
}

/** Checks `<name> [--config m | --prefix p]`; the name by the rules schedule() applies (a name no schedule can have is a usage error). */
export async function parseScheduleRemove(values: ParsedValues, [name]: string[]): Promise<ScheduleRemoveCommandOptions> {
  const options = parseConnection(values);
  // Loaded here, once the command line is otherwise right: it imports BullMQ.
  const spec: typeof import('../schedule/schedule-spec.js') = await import('../schedule/schedule-spec.js');
  try {
    spec.checkScheduleName(name);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^Invalid/, 'invalid'));
  }
  return { name, ...options };
}

function formatLast(last: ScheduleInfo['last']): string {
  return last ? `${last.state} ${last.at.toISOString()} (job ${last.jobId})` : '-';
}

/** The schedules as an aligned table, a header first. */
export function schedulesTable(list: readonly ScheduleInfo[]): string {
  const rows = [
    ['NAME', 'QUEUE', 'WHEN', 'TARGET', 'ORIGIN', 'NEXT RUN', 'LAST RUN'],
    ...list.map((s) => [s.name, s.queue, describeWhen(s.when), describeTarget(s.target), s.origin, s.next ? s.next.toISOString() : 'ended', formatLast(s.last)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** Prints the schedules (a table, or JSON), or one line when there is none. */
export async function runSchedules(o: SchedulesCommandOptions): Promise<number> {
  const { listSchedules } = await import('../schedule/schedule.js');
  return withConnection(o, async (prefix) => {
    const list = await listSchedules();
    if (o.json) console.log(JSON.stringify(list, null, 2));
    else console.log(list.length ? schedulesTable(list) : `No schedules (prefix ${prefix})`);
    return EXIT.ok;
  });
}

/** Removes the schedule and says what happened; a schedule of the config module is said to come back. */
export async function runScheduleRemove(o: ScheduleRemoveCommandOptions): Promise<number> {
  const [{ getConfig }, { listSchedules, unschedule }] = await Promise.all([import('../config.js'), import('../schedule/schedule.js')]);
  return withConnection(o, async (prefix) => {
    const before = (await listSchedules()).find((s) => s.name === o.name);
    const removed = await unschedule(o.name);
    // Declared in the config module: either the stored schedule says so, or the module given with --config does.
    const declared = before?.origin === 'config' || Object.hasOwn(getConfig().schedules ?? {}, o.name);
    if (!removed) {
      console.error(`No schedule '${o.name}' (prefix ${prefix})${declared ? `; the config module declares it: a worker with that config adds it` : ''}`);
      return EXIT.notFound;
    }
    console.log(`Removed schedule '${o.name}' (${before ? `queue ${before.queue}, origin ${before.origin}; ` : ''}prefix ${prefix})`);
    if (declared) {
      console.log(`'${o.name}' is declared in the config module's schedules: a worker with that config adds it again (at its start, or within 10 s while it runs).
Remove it from the config module to remove it for good.`);
    }
    return EXIT.ok;
  });
}
