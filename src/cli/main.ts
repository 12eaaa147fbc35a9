import { inspect } from 'node:util';
import { DeferralError } from '../errors.js';
import { commandHelp, parseCommand, suggest, UsageError, wantsHelp, type CommandSpec, type ParsedValues } from './args.js';
import { CLEAN, parseClean, runClean } from './clean.js';
import { CliFailure } from './config-module.js';
import { DASHBOARD, parseDashboard, runDashboard } from './dashboard.js';
import { EXIT } from './exit-codes.js';
import { parseQueueState, PAUSE, RESUME, runQueueState } from './queue-state.js';
import { parseScheduleRemove, parseSchedules, runScheduleRemove, runSchedules, SCHEDULES, SCHEDULES_REMOVE } from './schedules.js';
import { parseStatus, runStatus, STATUS } from './status.js';
import { VERSION } from '../version.js';
import { parseWorker, runWorker, WORKER } from './worker.js';
import { parseWorkers, runWorkers, WORKERS } from './workers.js';

/** A command: what it accepts, and how it runs once its arguments are checked. */
interface Command {
  spec: CommandSpec;
  /** Checks the arguments (UsageError), then runs; resolves the exit code. */
  run(values: ParsedValues, positionals: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  worker: { spec: WORKER, run: (values) => { const o = parseWorker(values); return runWorker(o); } },
  workers: { spec: WORKERS, run: (values) => { const o = parseWorkers(values); return runWorkers(o); } },
  dashboard: { spec: DASHBOARD, run: (values) => { const o = parseDashboard(values); return runDashboard(o); } },
  status: { spec: STATUS, run: (values, positionals) => { const o = parseStatus(values, positionals); return runStatus(o); } },
  clean: { spec: CLEAN, run: (values) => { const o = parseClean(values); return runClean(o); } },
  pause: { spec: PAUSE, run: (values, positionals) => { const o = parseQueueState(values, positionals, true); return runQueueState(o); } },
  resume: { spec: RESUME, run: (values, positionals) => { const o = parseQueueState(values, positionals, false); return runQueueState(o); } },
  schedules: { spec: SCHEDULES, run: (values) => { const o = parseSchedules(values); return runSchedules(o); } },
  // Two words: main() takes `schedules remove` as one command name.
  'schedules remove': { spec: SCHEDULES_REMOVE, run: async (values, positionals) => { const o = await parseScheduleRemove(values, positionals); return runScheduleRemove(o); } },
};

export const USAGE = `Usage: deferred <command> [options]

Commands:
  worker       Run a worker until SIGTERM/SIGINT.
  workers      Run and supervise worker processes (restarted when they die; SIGHUP: rolling restart).
  dashboard    Serve bull-board, the job API and progress pages.
  status       Print a job's state, progress and result or error; --follow follows it.
  clean        Remove finished jobs older than a duration (and their job table rows).
  pause <q>    Pause a queue for every worker (running jobs finish; new ones wait).
  resume <q>   Resume a paused queue.
  schedules    List the schedules; 'schedules remove <name>' removes one.
  help [cmd]   Show this text, or a command's help (also: deferred <command> --help).
  version      Print the version (also --version, -v).

Exit codes: 0 success, 1 a failed job or an error, 2 a usage error;
status also 3 (no such job) and 4 (not finished yet).`;

/** The command the words start with, and the words after it: `schedules remove` is one command, `schedules` another. */
function commandWords(words: string[]): [string | undefined, string[]] {
  const [first, second] = words;
  const two = `${first} ${second}`;
  return second !== undefined && Object.hasOwn(COMMANDS, two) ? [two, words.slice(2)] : [first, words.slice(1)];
}

function command(name: string): Command {
  const found = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (found) return found;
  const guess = suggest(name, Object.keys(COMMANDS));
  throw new UsageError(name.startsWith('-')
    ? `unknown option '${name}' (options go after the command: deferred <command> [options])`
    : `unknown command '${name}'${guess ? ` (did you mean ${guess}?)` : ''}`);
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    console.error(USAGE);
    return EXIT.usage;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}' for 'version'`);
    console.log(VERSION);
    return EXIT.ok;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const [topic, more] = commandWords(rest);
    if (more.length) throw new UsageError(`unexpected argument '${more[0]}' for 'help'`);
    console.log(topic ? commandHelp(command(topic).spec) : USAGE);
    return EXIT.ok;
  }
  const [name, args] = commandWords(argv);
  const cmd = command(name!);
  if (wantsHelp(args)) {
    console.log(commandHelp(cmd.spec));
    return EXIT.ok;
  }
  try {
    const { values, positionals } = parseCommand(cmd.spec, args);
    return await cmd.run(values, positionals);
  } catch (err) {
    // A usage error found while checking values names no command: it is this one's.
    if (err instanceof UsageError && !err.command) throw new UsageError(err.message, cmd.spec);
    throw err;
  }
}

/** The code in `deferred: <CODE>: message`. */
function errorCode(err: unknown): string {
  if (err instanceof DeferralError || err instanceof CliFailure) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.name : 'Error';
}

/** Prints an error the way a CLI should, and returns the exit code: 2 for usage, 1 otherwise. */
function report(err: unknown, verbose: boolean): number {
  if (err instanceof UsageError) {
    console.error(`deferred: ${err.message}\n\n${err.command ? commandHelp(err.command) : USAGE}`);
    return EXIT.usage;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(`deferred: ${errorCode(err)}: ${message.split('\n')[0]}`);
  if (verbose) console.error(inspect(err, { depth: 6 }));
  return EXIT.failed;
}

/** Runs the CLI on `argv` (without node and the script) and sets the process' exit code. */
export async function runCli(argv: string[]): Promise<void> {
  const end = argv.indexOf('--');
  const verbose = (end < 0 ? argv : argv.slice(0, end)).includes('--verbose') || Boolean(process.env.DEBUG);
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    process.exitCode = report(err, verbose);
  }
}
