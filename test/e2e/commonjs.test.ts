import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers.js';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const APP_SOURCE = join(ROOT, 'test/e2e/commonjs-app');
// Installed beside the package from this repository's node_modules (symlinks: nothing downloads).
const ALSO_INSTALLED = ['better-sqlite3', 'reflect-metadata', '@types/node'];

interface Packed {
  tarball: string;
  app: string;
  /** What `tsc` printed compiling the app: its type errors, if any. */
  tscOutput: string;
}

/** `npm pack`s the built package (dist/ comes from test/global-setup.ts), the way a registry would serve it. */
async function pack(dir: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  return join(dir, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}

/** A CommonJS app with the packed package in its node_modules, and its dependencies linked from ours. */
async function installApp(dir: string, tarball: string): Promise<string> {
  const app = join(dir, 'app');
  cpSync(APP_SOURCE, app, { recursive: true, filter: (from) => !/^(dist|node_modules)\b/.test(relative(APP_SOURCE, from)) });
  const modules = join(app, 'node_modules');
  mkdirSync(modules);
  await run('tar', ['-xzf', tarball, '-C', modules]);
  renameSync(join(modules, 'package'), join(modules, 'typeorm-deferred'));
  const manifest = JSON.parse(readFileSync(join(modules, 'typeorm-deferred/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const names = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), ...ALSO_INSTALLED];
  for (const name of names.filter((n) => existsSync(join(ROOT, 'node_modules', n)))) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  }
  return app;
}

describe('a CommonJS application', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deferred-cjs-'));
  const prefix = uniquePrefix();
  const env = { ...process.env, REDIS_URL, DEFERRED_PREFIX: prefix, APP_SQLITE: join(dir, 'app.sqlite') };
  const packed = {} as Packed;

  beforeAll(async () => {
    packed.tarball = await pack(dir);
    packed.app = await installApp(dir, packed.tarball);
    const tsc = [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(packed.app, 'tsconfig.json')];
    packed.tscOutput = (await run(process.execPath, tsc).catch((e: { stdout: string }) => e)).stdout;
  }, 180_000);
  afterAll(async () => {
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('compiles with tsc (module node16, CommonJS) against the packed types', () => {
    expect(packed.tscOutput).toBe('');
    expect(readFileSync(join(packed.app, 'dist/report.js'), 'utf8')).toContain('require("typeorm-deferred")');
  });

  it('require()s the package and its dashboard, defers a call and runs it in its own worker, with one copy of each library', async () => {
    const { stdout, stderr } = await run(process.execPath, ['dist/main.js', '--worker'], { cwd: packed.app, env, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({
      result: { total: 42, uid: 'alice' },
      state: 'completed',
      copies: { 'typeorm-deferred': true, typeorm: true, bullmq: true },
      dashboard: 'function',
      errors: 'function',
    });
    expect(stderr).not.toContain('ExperimentalWarning');
  }, 40_000);

  it('has its job, whose entity was decorated in CommonJS, run by the ES module CLI worker with a CommonJS config', async () => {
    const shared = { ...env, APP_SQLITE: join(dir, 'shared.sqlite') };
    // The schema first, so the two processes do not both create it in one SQLite file.
    await run(process.execPath, ['-e', "require('./dist/config').dataSources.main.initialize().then((ds) => ds.destroy())"], { cwd: packed.app, env: shared });
    const cli = join(packed.app, 'node_modules/typeorm-deferred/dist/src/cli.js');
    const worker = spawn(process.execPath, [cli, 'worker', '--config', 'dist/config.js'], { cwd: packed.app, env: shared });
    let output = '';
    worker.stdout.on('data', (d) => (output += d));
    worker.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((done) => worker.on('exit', done));
    try {
      const { stdout } = await run(process.execPath, ['dist/main.js'], { cwd: packed.app, env: shared, timeout: 30_000 });
      expect(JSON.parse(stdout)).toMatchObject({ result: { total: 42, uid: 'alice' }, state: 'completed' });
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).not.toContain('DEFER_ERR');
  }, 40_000);

  it('passes @arethetypeswrong/cli for node10, node16 (CommonJS and ESM) and bundlers', async () => {
    const attw = join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const { stdout } = await run(process.execPath, [attw, packed.tarball, '--no-definitely-typed', '--format', 'json'], { cwd: ROOT })
      .catch((e: { stdout: string }) => e);
    const problems = (JSON.parse(stdout) as { analysis: { problems: { resolutionKind?: string }[] } }).analysis.problems;
    // node10 (TypeScript's moduleResolution "node", NestJS's default) finds /dashboard through typesVersions.
    expect(problems).toEqual([]);
  }, 60_000);
});
