// scripts/prepare-test-machine.mjs (`npm test`'s pretest), run for real against this machine's services:
// quiet and quick when everything is there, and one clear line (exit 1) for what it cannot provide.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { redisServerBinary } from '../redis-server.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'scripts/prepare-test-machine.mjs');
const NOWHERE = '/nonexistent/chromium';
const bins: string[] = [];

/** A folder for PATH holding only the named tools (no sudo, and apt-get only when named). */
function pathWith(...tools: Array<[name: string, target: string]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'deferred-test-machine-'));
  bins.push(dir);
  for (const [name, target] of tools) symlinkSync(target, join(dir, name));
  return dir;
}

/** Runs the script with `env` over this process's environment (an undefined value removes the variable). */
function prepare(env: Record<string, string | undefined>) {
  const merged: NodeJS.ProcessEnv = { ...process.env, CHROMIUM_PATH: undefined, ...env };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: ROOT, env: merged, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The one line on stderr, and nothing else anywhere. */
function oneLine(run: ReturnType<typeof prepare>): string {
  expect(run.code, run.stdout + run.stderr).toBe(1);
  expect(run.stdout).toBe('');
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines, run.stderr).toHaveLength(1);
  return lines[0];
}

describe('the machine check `npm test` runs first', () => {
  afterAll(() => {
    for (const dir of bins) rmSync(dir, { recursive: true, force: true });
  });

  it('is what `npm test` runs first', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('node scripts/prepare-test-machine.mjs');
  });

  it('exits 0 without a word when everything is there', () => {
    const run = prepare({});
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).toBe('');
  });

  it('uses CHROMIUM_PATH when set and never installs: a missing one is one line naming it', () => {
    expect(oneLine(prepare({ CHROMIUM_PATH: NOWHERE }))).toBe(
      `typeorm-deferred tests: Chromium is missing at ${NOWHERE} (CHROMIUM_PATH); point CHROMIUM_PATH at a Chromium executable, or unset it to use Debian's /usr/bin/chromium`,
    );
  });

  it('not root and no passwordless sudo: says which package to install, or to set CHROMIUM_PATH', () => {
    const path = pathWith(['redis-server', redisServerBinary()], ['apt-get', '/usr/bin/apt-get']);
    const run = prepare({ PATH: path, PREPARE_TEST_MACHINE_AS_USER: '1', PREPARE_TEST_MACHINE_DEFAULT_CHROMIUM: NOWHERE });
    expect(oneLine(run)).toBe(
      `typeorm-deferred tests: Chromium is missing at ${NOWHERE}; install it with "sudo apt-get install chromium" or set CHROMIUM_PATH`,
    );
  });

  it('no apt-get: says what to install yourself', () => {
    const path = pathWith(['redis-server', redisServerBinary()]);
    const run = prepare({ PATH: path, PREPARE_TEST_MACHINE_DEFAULT_CHROMIUM: NOWHERE });
    expect(oneLine(run)).toBe(
      `typeorm-deferred tests: Chromium is missing at ${NOWHERE} and there is no apt-get here to install Debian's chromium; install chromium yourself or set CHROMIUM_PATH`,
    );
  });

  it('no redis-server on the PATH (the private-Redis tests need it) and no way to install it: one line', () => {
    const run = prepare({ PATH: pathWith(), PREPARE_TEST_MACHINE_AS_USER: '1' });
    expect(oneLine(run)).toBe(
      "typeorm-deferred tests: redis-server is not installed (some tests start a private one) and there is no apt-get here to install Debian's redis-server; install redis-server yourself",
    );
  });

  it('a REDIS_URL that does not answer is named, and nothing is started in its place', () => {
    const line = oneLine(prepare({ REDIS_URL: 'redis://127.0.0.1:1' }));
    expect(line).toMatch(/^typeorm-deferred tests: Redis at REDIS_URL=redis:\/\/127\.0\.0\.1:1 does not answer PING \(.*ECONNREFUSED.*\); start it, fix REDIS_URL or unset it/);
  });

  it('a PostgreSQL login that is refused is named with what to allow', () => {
    const line = oneLine(prepare({ PG_URL: 'postgres://no_such_role@127.0.0.1:5432/test' }));
    expect(line).toMatch(/^typeorm-deferred tests: PostgreSQL at postgres:\/\/no_such_role@127\.0\.0\.1:5432\/test refuses the tests' login \(.*no_such_role.*\); allow it .* or set PG_URL$/);
  });
});
