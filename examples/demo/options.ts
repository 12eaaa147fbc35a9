import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const USAGE = `Usage: npm start [-- --once | --serve]

Runs a tour of typeorm-deferred on an SQLite file (.demo/demo.sqlite) and Redis,
with a worker in this process, and prints how each job ended. Then it serves the
dashboard and a demo page on http://127.0.0.1:3000/ (with a button that starts a
long job and shows its progress), until Ctrl-C.

  --once     exit after the tour, without serving
  --serve    serve after the tour (the default)
  --help     show this help

Environment:
  REDIS_URL                  use this Redis, and only it
  DEMO_FORCE_PRIVATE_REDIS=1 ignore REDIS_URL and :6379, start a private redis-server
  DEMO_PREFIX                queue key prefix (default deferred-demo)
  DEMO_ONCE=1                same as --once
  DEMO_PORT or PORT          the server's port (default 3000, or a free one if it is taken; 0: any free port)
  DEMO_PASSWORD              password of the user "demo" (default: a random one per run)
  DEMO_ADMIN_PASSWORD        password of the user "admin" (default: a random one per run)
  DEMO_LONG_JOB_MS           the page's long job waits this long per customer (default 1000: about 12 s)`;

/** What the web part was asked to do. */
export interface WebOptions {
  /** The port asked for by DEMO_PORT or PORT (0: any free port); undefined: 3000, or a free one if taken. */
  port?: number;
  /** The variable `port` came from, for messages. */
  portFrom?: 'DEMO_PORT' | 'PORT';
  password: string;
  adminPassword: string;
  /** True when the passwords were generated for this run. */
  randomPasswords: { demo: boolean; admin: boolean };
  /** Delay per customer of the long job the demo page starts. */
  longJobMs: number;
}

/** What the demo was asked to do. */
export interface DemoOptions {
  /** Run the tour and exit, without serving. */
  once: boolean;
  forcePrivateRedis: boolean;
  prefix: string;
  /** The SQLite file, made fresh on each run. */
  database: string;
  web: WebOptions;
}

/** A wrong argument or variable; the message is meant for the user, as is. */
export class UsageError extends Error {}

const isOn = (value: string | undefined) => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
/** A variable's value, an empty one counting as unset. */
const read = (env: NodeJS.ProcessEnv, name: string) => env[name]?.trim() || undefined;

/** About 12 characters of URL-safe randomness. */
const randomPassword = () => randomBytes(9).toString('base64url');

function integer(name: string, value: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UsageError(`${name} must be a whole number from 0 to ${max}, not ${JSON.stringify(value)}`);
  return Number(value);
}

const KNOWN = ['--once', '--serve', '--help', '-h'];

/** Reads the command line and the environment; 'help' for --help. */
export function readOptions(argv = process.argv.slice(2), env = process.env): DemoOptions | 'help' {
  const unknown = argv.filter((a) => !KNOWN.includes(a));
  if (unknown.length) throw new UsageError(`Unknown argument${unknown.length > 1 ? 's' : ''}: ${unknown.join(' ')}\n\n${USAGE}`);
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.includes('--once') && argv.includes('--serve')) throw new UsageError(`--once and --serve contradict each other: choose one.\n\n${USAGE}`);

  const prefix = read(env, 'DEMO_PREFIX') ?? 'deferred-demo';
  if (!/^[\w.-]+$/.test(prefix)) throw new UsageError(`DEMO_PREFIX must be letters, digits, '_', '.' or '-', not ${JSON.stringify(prefix)}`);

  const portFrom = read(env, 'DEMO_PORT') !== undefined ? 'DEMO_PORT' : read(env, 'PORT') !== undefined ? 'PORT' : undefined;
  const longJobMs = read(env, 'DEMO_LONG_JOB_MS');
  const password = read(env, 'DEMO_PASSWORD');
  const adminPassword = read(env, 'DEMO_ADMIN_PASSWORD');
  return {
    // The command line wins over the environment; DEMO_SERVE=1 is the former --serve, now the default.
    once: argv.includes('--once') || (!argv.includes('--serve') && !isOn(env.DEMO_SERVE) && isOn(env.DEMO_ONCE)),
    forcePrivateRedis: isOn(env.DEMO_FORCE_PRIVATE_REDIS),
    prefix,
    database: join(process.cwd(), '.demo', 'demo.sqlite'),
    web: {
      port: portFrom && integer(portFrom, read(env, portFrom)!, 65_535),
      portFrom,
      password: password ?? randomPassword(),
      adminPassword: adminPassword ?? randomPassword(),
      randomPasswords: { demo: password === undefined, admin: adminPassword === undefined },
      longJobMs: longJobMs === undefined ? 1_000 : integer('DEMO_LONG_JOB_MS', longJobMs, 60_000),
    },
  };
}
