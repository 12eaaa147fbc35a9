#!/usr/bin/env node
// `npm test` runs this first (the `pretest` script). It makes sure the machine has what the
// tests use: Redis at REDIS_URL, PostgreSQL with the database of PG_URL, MariaDB at MARIADB_URL
// with a TCP root login and a `test` database, `redis-server` for the tests that start a
// private one, and Chromium (CHROMIUM_PATH, else Debian's /usr/bin/chromium).
// It starts a local service that is down and installs a missing Debian package when it may
// (root, or passwordless `sudo -n`); it never restarts a service that answers. Otherwise it
// stops with exit code 1 and ONE line saying what to install, start or set.
// When everything is there it prints nothing and takes a few hundred milliseconds.
//
// For tests only (test/integration/test-machine.check.test.ts):
//   PREPARE_TEST_MACHINE_AS_USER=1           behave as a user who is not root (sudo -n is still tried);
//   PREPARE_TEST_MACHINE_DEFAULT_CHROMIUM=p  look for the default Chromium at p instead of /usr/bin/chromium.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mysql from 'mysql2/promise';
import pg from 'pg';

const PREFIX = 'typeorm-deferred tests:';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_MARIADB_URL = 'mysql://root@127.0.0.1:3306';
const DEFAULT_CHROMIUM = process.env.PREPARE_TEST_MACHINE_DEFAULT_CHROMIUM || '/usr/bin/chromium';
const START_TIMEOUT_MS = 30_000;

class Unfixable extends Error {}

/** Stops the preparation: `message` becomes the one line the user reads. */
const fail = (message) => { throw new Unfixable(message); };
const say = (message) => console.log(`${PREFIX} ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The first executable called `name` on the PATH. */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    if (isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let rootPrefix;
/** How to run a command as root: [] when we are root, ['sudo', '-n'] when sudo needs no password, else undefined. */
function asRootPrefix() {
  if (rootPrefix !== undefined) return rootPrefix || undefined;
  const root = process.getuid?.() === 0 && process.env.PREPARE_TEST_MACHINE_AS_USER !== '1';
  const sudo = !root && onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  rootPrefix = root ? [] : sudo ? ['sudo', '-n'] : false;
  return rootPrefix || undefined;
}

/** Runs a command (as root when `root`), failing with its last line of output when it fails. */
function run(command, args, { root = false, why, env } = {}) {
  const prefix = root ? asRootPrefix() : [];
  if (!prefix) fail(`${why}; it needs root and there is no passwordless sudo: run "sudo ${[command, ...args].join(' ')}"`);
  const [file, ...rest] = [...prefix, command, ...args];
  const result = spawnSync(file, rest, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.trim().split('\n').pop();
    fail(`${why}; "${[...prefix, command, ...args].join(' ')}" failed: ${output || `exit code ${result.status}`}`);
  }
}

let aptUpdated = false;
/** Installs a Debian package, or fails with `problem` and how to get it otherwise (`otherwise`: " or set …"). */
function aptInstall(pkg, problem, otherwise = '') {
  if (!onPath('apt-get')) fail(`${problem} and there is no apt-get here to install Debian's ${pkg}; install ${pkg} yourself${otherwise}`);
  if (!asRootPrefix()) fail(`${problem}; install it with "sudo apt-get install ${pkg}"${otherwise}`);
  say(`${problem}: installing Debian's ${pkg} (apt-get install ${pkg})`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) run('apt-get', ['update', '-qq'], { root: true, why: `${problem}; apt-get update failed`, env });
  aptUpdated = true;
  run('apt-get', ['install', '-y', '-qq', pkg], { root: true, why: `${problem}; apt-get install ${pkg} failed`, env });
}

/** Waits until `check` answers undefined (up), failing with its last answer after START_TIMEOUT_MS. */
async function waitUntilUp(what, check) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const problem = await check();
    if (problem === undefined) return;
    if (Date.now() > deadline) fail(`${what} did not answer within ${START_TIMEOUT_MS / 1000} s after it was started (${problem})`);
    await sleep(250);
  }
}

/** Undefined when Redis answers PING at `url` (after AUTH when the URL has a password), else why not. */
function redisProblem(url) {
  const u = new URL(url);
  const auth = [u.username, u.password].filter(Boolean).map(decodeURIComponent);
  const commands = [...(u.password ? [['AUTH', ...auth]] : []), ['PING']];
  const request = commands.map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join('');
  const options = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379), servername: u.hostname };
  return new Promise((resolve) => {
    // A plain socket: a client library would keep this process alive for seconds after a refusal.
    const socket = u.protocol === 'rediss:' ? tlsConnect(options) : netConnect(options);
    let replies = '';
    const done = (problem) => { socket.destroy(); resolve(problem); };
    socket.setTimeout(1_000, () => done('no answer within 1 s'));
    socket.once(u.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      replies += chunk.toString();
      const lines = replies.split('\r\n').slice(0, -1);
      const error = lines.find((line) => line.startsWith('-'));
      if (error) done(error.slice(1));
      else if (lines.length >= commands.length) done(lines.at(-1) === '+PONG' ? undefined : `answered ${lines.at(-1)}`);
    });
    socket.on('error', (err) => done(err.message));
    socket.on('close', () => done('the connection closed without an answer'));
  });
}

async function prepareRedis() {
  // The tests that stop and start Redis start a private redis-server, whatever REDIS_URL says.
  if (!onPath('redis-server')) aptInstall('redis-server', 'redis-server is not installed (some tests start a private one)');
  const url = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const problem = await redisProblem(url);
  if (problem === undefined) return;
  if (url !== DEFAULT_REDIS_URL) fail(`Redis at REDIS_URL=${url} does not answer PING (${problem}); start it, fix REDIS_URL or unset it to use ${DEFAULT_REDIS_URL}`);
  say(`Redis at ${url} does not answer PING (${problem}): starting redis-server`);
  // As in DESIGN.md; a user who is not root keeps its (empty) files in a folder of its own.
  const dir = asRootPrefix()?.length === 0 ? '/var/lib/redis' : join(tmpdir(), `typeorm-deferred-redis-${process.getuid?.() ?? 'user'}`);
  const logfile = dir === '/var/lib/redis' ? '/var/log/redis/ci.log' : join(dir, 'redis.log');
  mkdirSync(dir, { recursive: true });
  mkdirSync(join(logfile, '..'), { recursive: true });
  run('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', logfile], { why: 'Redis is down' });
  await waitUntilUp(`Redis at ${url}`, () => redisProblem(url));
}

/** PostgreSQL's password and authorization failures (28P01, 28000), MariaDB's access denied (1045, 1698). */
const isAccessDenied = (error) => ['28P01', '28000'].includes(error.code) || [1045, 1698].includes(error.errno);

/** What went wrong connecting to a database server, and what to do: the end of the one line. */
function loginProblem(error, variable, isDefault) {
  const why = error.message || error.code;
  if (isAccessDenied(error)) {
    const allow = variable === 'PG_URL' ? 'allow it ("host all all 127.0.0.1/32 trust" in pg_hba.conf)' : 'allow it';
    return `refuses the tests' login (${why}); ${allow} or set ${variable}`;
  }
  return `does not answer (${why}); ${isDefault ? `start it, or set ${variable}` : `start it, fix ${variable} or unset it`}`;
}

/** Connects to the PostgreSQL server of `url` (its `postgres` database), or answers the error. */
async function pgClient(url) {
  const target = new URL(url);
  target.pathname = '/postgres';
  const client = new pg.Client({ connectionString: target.href, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { client };
  } catch (error) {
    await client.end().catch(() => undefined);
    return { error };
  }
}

async function preparePostgres() {
  const url = process.env.PG_URL || DEFAULT_PG_URL;
  let { client, error } = await pgClient(url);
  if (error?.code === 'ECONNREFUSED' && url === DEFAULT_PG_URL) {
    const why = `PostgreSQL does not answer at 127.0.0.1:5432`;
    if (!onPath('pg_ctlcluster')) aptInstall('postgresql', `${why} and is not installed`);
    const versions = readdirSync('/etc/postgresql');
    if (versions.length === 0) fail(`${why} and /etc/postgresql has no cluster; create one with "sudo pg_createcluster <version> main"`);
    say(`${why}: starting it (pg_ctlcluster ${versions[0]} main start)`);
    run('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0], 'main', 'start'], { root: true, why });
    await waitUntilUp('PostgreSQL at 127.0.0.1:5432', async () => {
      ({ client, error } = await pgClient(url));
      // 57P03: the database system is starting up.
      return error && (error.code === 'ECONNREFUSED' || error.code === '57P03') ? error.message : undefined;
    });
  }
  if (error) fail(`PostgreSQL at ${url} ${loginProblem(error, 'PG_URL', url === DEFAULT_PG_URL)}`);
  try {
    const database = decodeURIComponent(new URL(url).pathname.slice(1)) || 'test';
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount === 0) {
      say(`creating the PostgreSQL database ${database}`);
      await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
    }
  } finally {
    await client.end();
  }
}

/** Connects to the MariaDB server of `url` (no database), or answers the error. */
async function mariadbConnection(url) {
  const u = new URL(url);
  try {
    const connection = await mysql.createConnection({
      host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password), connectTimeout: 2_000,
    });
    return { connection };
  } catch (error) {
    return { error };
  }
}

async function prepareMariadb() {
  const url = process.env.MARIADB_URL || DEFAULT_MARIADB_URL;
  let { connection, error } = await mariadbConnection(url);
  const local = url === DEFAULT_MARIADB_URL;
  if (error?.code === 'ECONNREFUSED' && local) {
    const why = 'MariaDB does not answer at 127.0.0.1:3306';
    if (!isExecutable('/usr/sbin/mariadbd')) aptInstall('mariadb-server', `${why} and is not installed`);
    say(`${why}: starting /usr/sbin/mariadbd`);
    run('install', ['-d', '-o', 'mysql', '-g', 'mysql', '/run/mysqld'], { root: true, why });
    run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], { root: true, why });
    await waitUntilUp('MariaDB at 127.0.0.1:3306', async () => {
      ({ connection, error } = await mariadbConnection(url));
      return error && error.code === 'ECONNREFUSED' ? error.message : undefined;
    });
  }
  if (error && isAccessDenied(error) && local) {
    // A fresh Debian mariadb-server lets root in only through the socket: allow the tests' TCP login.
    const why = 'MariaDB refuses root over TCP without a password';
    say(`${why}: adding 'root'@'127.0.0.1'`);
    run('mariadb', ['-e', "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"], { root: true, why });
    ({ connection, error } = await mariadbConnection(url));
  }
  if (error) fail(`MariaDB at ${url} ${loginProblem(error, 'MARIADB_URL', local)}`);
  try {
    await connection.query('CREATE DATABASE IF NOT EXISTS test');
  } finally {
    await connection.end();
  }
}

function prepareChromium() {
  // As the browser test reads it: set (even empty) means this binary, never an install.
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen !== undefined) {
    if (chosen === '') fail(`CHROMIUM_PATH is set but empty; point it at a Chromium executable, or unset it to use Debian's ${DEFAULT_CHROMIUM}`);
    if (!isExecutable(chosen)) fail(`Chromium is missing at ${chosen} (CHROMIUM_PATH); point CHROMIUM_PATH at a Chromium executable, or unset it to use Debian's ${DEFAULT_CHROMIUM}`);
    return;
  }
  if (isExecutable(DEFAULT_CHROMIUM)) return;
  aptInstall('chromium', `Chromium is missing at ${DEFAULT_CHROMIUM}`, ' or set CHROMIUM_PATH');
  if (!isExecutable(DEFAULT_CHROMIUM)) fail(`Chromium is still missing at ${DEFAULT_CHROMIUM} after apt-get install chromium; set CHROMIUM_PATH to a Chromium executable`);
}

// A connection that neither answers nor fails would let Node exit with code 0 having checked nothing.
let finished = false;
process.on('exit', () => {
  if (finished) return;
  console.error(`${PREFIX} the machine check stopped before it finished (a service neither answered nor failed)`);
  process.exitCode = 1;
});

try {
  await prepareRedis();
  await preparePostgres();
  await prepareMariadb();
  prepareChromium();
} catch (err) {
  // Still one line when something unforeseen breaks (a query refused, a driver error).
  console.error(`${PREFIX} ${err instanceof Unfixable ? err.message : `could not prepare the machine: ${err?.message ?? err}`}`);
  process.exitCode = 1;
}
finished = true;
