import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys } from '../helpers.js';
import { redisServerBinary } from '../redis-server.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
// Built by test/global-setup.ts before any test file runs.
const MAIN = join(ROOT, 'dist/examples/demo/main.js');
const RUN_TIMEOUT_MS = 60_000;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  cwd: string;
}

const cwds: string[] = [];
const prefixes: string[] = [];

/**
 * Runs the compiled demo in a fresh working folder (so its .demo/ SQLite file is
 * its own) with its own queue prefix; `onOutput` may act on the output as it comes.
 */
function runDemo(env: Record<string, string | undefined> = {}, args: string[] = [], onOutput?: (stdout: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'deferred-demo-e2e-'));
  cwds.push(cwd);
  const prefix = `demo-e2e-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd,
      env: {
        ...process.env, NO_COLOR: '1', DEMO_SERVE: '', DEMO_ONCE: '', DEMO_FORCE_PRIVATE_REDIS: '', DEMO_PREFIX: prefix,
        DEMO_PORT: '', PORT: '', DEMO_PASSWORD: '', DEMO_ADMIN_PASSWORD: '', DEMO_LONG_JOB_MS: '', ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onOutput?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, cwd });
    });
  });
}

/** The summary line of one job: `✔ label  queue  state  id  outcome`. */
function summaryLine(stdout: string, label: string): string {
  const line = stdout.split('\n').find((l) => new RegExp(`^  [✔✘] ${label} `).test(l));
  expect(line, `summary line for ${label} in:\n${stdout}`).toBeDefined();
  return line!;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('demo (npm start)', () => {
  afterAll(async () => {
    for (const cwd of cwds) rmSync(cwd, { recursive: true, force: true });
    for (const prefix of prefixes) await deleteKeys(prefix);
  });

  it('--once runs the tour, prints every outcome and exits 0', async () => {
    const run = await runDemo({}, ['--once']);
    const { stdout } = run;
    expect(run.code, `${stdout}\n${run.stderr}`).toBe(0);
    expect(existsSync(join(run.cwd, '.demo/demo.sqlite'))).toBe(true);

    // Model-level: a static method, its result decoded.
    expect(summaryLine(stdout, 'model-level')).toMatch(new RegExp(`✔ model-level +default +completed +${UUID} +→ \\{ invoices: 6, total: '\\$[\\d.,]+' \\}`));
    // Record-level: an instance method on one reloaded record; the Date survives the trip.
    expect(summaryLine(stdout, 'record-level')).toMatch(/completed .*→ \{ invoice: 'INV-1001', to: 'alice@example\.com', note: 'Thank you!', sentAt: \d{4}-\d\d-\d\dT[\d:.]+Z \}/);
    // An array of records: one value per record.
    expect(summaryLine(stdout, 'array')).toMatch(/completed .*→ \[ 'INV-1003 \$310\.00 → \$341\.00', 'INV-1004 \$89\.00 → \$97\.90', 'INV-1006 \$25\.00 → \$27\.50' \]/);
    // Countdown: delayed when deferred, completed afterwards, not before its 2 s.
    expect(stdout).toMatch(/countdown +INV-1002\.remind\(\) in 2 s +→ delayed on default/);
    expect(summaryLine(stdout, 'countdown')).toMatch(/default +completed .*→ 'reminder for INV-1002 \(\$45\.50\) sent to bob@example\.com'/);
    const after = /The countdown job finished ([\d.]+) s after it was deferred/.exec(stdout);
    expect(after).not.toBeNull();
    expect(Number(after![1])).toBeGreaterThanOrEqual(2);
    // The high queue.
    expect(summaryLine(stdout, 'high-queue')).toMatch(/✔ high-queue +high +completed .*→ 'password reset link sent to alice@example\.com'/);
    // The failure: DEFER_ERR_JOB_FAILED with the remote message, and the rollback.
    expect(summaryLine(stdout, 'failing')).toMatch(/✔ failing +default +failed .*error DEFER_ERR_JOB_FAILED: card ending 0002 was declined for INV-1005 \(insufficient funds\)/);
    expect(stdout).toContain('the transaction was rolled back, so it is still "open"');
    // Progress: several samples while the long job runs, then its result.
    const samples = stdout.match(/^ +\d{1,3}% +active +statement for .+ \(\d+\/12\)$/gm) ?? [];
    expect(samples.length, stdout).toBeGreaterThanOrEqual(2);
    expect(new Set(samples.map((s) => /(\d+)%/.exec(s)![1])).size).toBeGreaterThanOrEqual(2);
    expect(summaryLine(stdout, 'progress')).toMatch(/✔ progress +low +completed .*→ \{ statements: 12, billed: '\$[\d.,]+' \}/);

    expect(stdout).toContain('All 7 jobs ended as expected: 6 completed, 1 failed on purpose.');
    // The job table: a commit runs the job, a rollback leaves nothing, a record's history is read back.
    expect(stdout).toMatch(/✔ commit +INV-1007 saved \+ send\(\) deferred in one transaction → the job ran after COMMIT: \{ invoice: 'INV-1007'/);
    expect(stdout).toMatch(/✔ rollback +INV-1008 saved \+ send\(\) deferred, then the transaction threw → no invoice, no job row, no job \{ invoice: 0, row: 0, job: 0 \}/);
    expect(stdout).toMatch(new RegExp(`✔ history +jobsFor\\(INV-1001\\) → 1 job\\(s\\) from the table:\n +send +completed uid demo-user +${UUID}, finished \\d{4}-`));
    expect(stdout).toContain('Shut down: stopped the worker, closed the queues, closed the database.');
    expect(run.stderr).toBe('');
  }, 90_000);

  it('exits 1 with a clear message when REDIS_URL names a Redis that does not answer', async () => {
    const run = await runDemo({ REDIS_URL: 'redis://127.0.0.1:1' }, ['--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Cannot reach Redis at REDIS_URL=redis://127.0.0.1:1');
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).toMatch(/unset REDIS_URL/);
    // The user named a server: no other is tried, none is started.
    expect(run.stdout + run.stderr).not.toMatch(/private redis-server/);
    expect(run.stdout).not.toMatch(/Deferring/);
  }, 90_000);

  it('starts a private redis-server when asked, and stops it on exit', async () => {
    redisServerBinary(); // says plainly that redis-server is missing, rather than the demo's longer help
    const run = await runDemo({ DEMO_FORCE_PRIVATE_REDIS: '1', REDIS_URL: 'redis://127.0.0.1:1' }, ['--once']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const started = /Redis +redis:\/\/127\.0\.0\.1:(\d+) \(private redis-server started for this run, pid (\d+), in (\S+)\)/.exec(run.stdout);
    expect(started, run.stdout).not.toBeNull();
    const [, port, pid, dir] = started!;
    expect(Number(port)).not.toBe(6379);
    expect(run.stdout).toContain('All 7 jobs ended as expected');
    expect(run.stdout).toContain('stopped the private redis-server.');
    expect(isAlive(Number(pid))).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 90_000);

  it('serves the home page and the dashboard after the tour, behind basic auth, until SIGTERM (exit 0)', async () => {
    const password = `demo-${randomUUID().slice(0, 8)}`;
    const adminPassword = `admin-${randomUUID().slice(0, 8)}`;
    let checks: Promise<void> | undefined;
    const run = await runDemo({ DEMO_PORT: '0', DEMO_PASSWORD: password, DEMO_ADMIN_PASSWORD: adminPassword, DEMO_LONG_JOB_MS: '100' }, [], (stdout, child) => {
      if (checks || !stdout.includes('to stop.')) return;
      checks = exerciseServer(stdout, password, adminPassword);
      // Stop the demo once the checks are done, whether they passed or not.
      void checks.catch(() => undefined).finally(() => child.kill('SIGTERM'));
    });
    expect(checks, `never served:\n${run.stdout}\n${run.stderr}`).toBeDefined();
    await checks;

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('All 7 jobs ended as expected');
    expect(run.stdout).toMatch(/Press Ctrl-C \(or send SIGTERM to pid \d+\) to stop\./);
    expect(run.stdout).not.toContain('Passwords are new on every run');
    expect(run.stdout).toContain('SIGTERM received: stopping.');
    expect(run.stdout).toContain('Shut down: stopped the web server, stopped the worker, closed the queues, closed the database.');
    expect(run.stderr).toBe('');
  }, 90_000);

  it('without DEMO_PORT, falls back to a free port when 3000 is taken, and makes up passwords', async () => {
    // Hold 3000 for the run (it may already be taken by something else: the fallback is the same).
    const blocker: Server = createServer();
    await new Promise<void>((done) => blocker.once('listening', done).once('error', () => done()).listen(3000, '127.0.0.1'));
    let served: string | undefined;
    try {
      const run = await runDemo({}, [], (stdout, child) => {
        if (served || !stdout.includes('to stop.')) return;
        served = stdout;
        child.kill('SIGINT');
      });
      expect(served, run.stdout + run.stderr).toBeDefined();
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    } finally {
      blocker.close();
    }
    const port = Number(/Serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(served!)?.[1]);
    expect(port).not.toBe(3000);
    expect(served).toContain(`Port 3000 is taken: serving on ${port} instead`);
    const demo = /demo \/ (\S+)/.exec(served!)?.[1];
    const admin = /admin \/ (\S+)/.exec(served!)?.[1];
    expect(demo).toMatch(/^[\w-]{12}$/);
    expect(admin).toMatch(/^[\w-]{12}$/);
    expect(demo).not.toBe(admin);
    expect(served).toContain('Passwords are new on every run');
  }, 90_000);
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** What the default mode serves, checked with fetch while the demo runs. */
async function exerciseServer(stdout: string, password: string, adminPassword: string): Promise<void> {
  const served = /Serving on (http:\/\/127\.0\.0\.1:(\d+))/.exec(stdout);
  expect(served, stdout).not.toBeNull();
  const [, base, port] = served!;
  expect(Number(port)).toBeGreaterThan(0);
  expect(stdout).toContain(`${base}/deferred/queues`);
  expect(stdout).toContain(`demo / ${password}`);
  expect(stdout).toContain(`admin / ${adminPassword}`);
  const demo = { authorization: basic('demo', password) };
  const admin = { authorization: basic('admin', adminPassword) };

  // The printed job API example works as printed: a job of the tour, seen by the demo user.
  const example = new RegExp(`curl -u demo:${password} (${base}/deferred/api/jobs/(${UUID}))`).exec(stdout);
  expect(example, stdout).not.toBeNull();
  const tourJob = await fetch(example![1], { headers: demo });
  expect(tourJob.status).toBe(200);
  expect(await tourJob.json()).toMatchObject({ id: example![2], state: 'completed', uid: 'demo-user' });

  // The printed history example too: the jobs of INV-1001, from the job table.
  const historyUrl = new RegExp(`curl -u demo:${password} (${base}/deferred/api/records/Invoice/1/jobs)`).exec(stdout);
  expect(historyUrl, stdout).not.toBeNull();
  const history = await fetch(historyUrl![1], { headers: demo });
  expect(history.status).toBe(200);
  expect(await history.json()).toMatchObject({ model: 'Invoice', id: '1', jobs: [{ method: 'send', state: 'completed', uid: 'demo-user' }] });

  // The home page: basic auth, then the button.
  const anonymous = await fetch(`${base}/`);
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
  expect((await fetch(`${base}/`, { headers: { authorization: basic('demo', `${password}x`) } })).status).toBe(401);
  const home = await fetch(`${base}/`, { headers: demo });
  expect(home.status).toBe(200);
  expect(home.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await home.text();
  expect(html).toMatch(/<form method="post" action="\/start"><button [^>]*>Start a long job<\/button><\/form>/);
  expect(html).toContain('href="/deferred/queues"');

  // The button: a form post from the page itself, answered with the progress page that comes back home.
  const form = { 'content-type': 'application/x-www-form-urlencoded', origin: base };
  expect((await fetch(`${base}/start`, { method: 'POST', headers: form, body: '', redirect: 'manual' })).status).toBe(401);
  const start = await fetch(`${base}/start`, { method: 'POST', headers: { ...demo, ...form }, body: '', redirect: 'manual' });
  expect(start.status).toBe(303);
  const location = start.headers.get('location') ?? '';
  const started = new RegExp(`^/deferred/jobs/(${UUID})\\?next=/$`).exec(location);
  expect(started, location).not.toBeNull();
  const id = started![1];
  const page = await fetch(`${base}${location}`, { headers: demo });
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('Customer.rebuildStatements');

  // The job runs for demo-user, reports progress and completes.
  const api = `${base}/deferred/api/jobs/${id}`;
  const first = await fetch(api, { headers: demo });
  expect(first.status).toBe(200);
  expect(await first.json()).toMatchObject({ id, queue: 'low', name: 'Customer.rebuildStatements', uid: 'demo-user' });
  const deadline = Date.now() + 20_000;
  let view: { state: string; percent: number; message?: string; result?: unknown };
  for (;;) {
    view = await (await fetch(api, { headers: demo })).json();
    if (view.state === 'completed' || view.state === 'failed' || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(view).toMatchObject({ state: 'completed', percent: 100, message: 'statement for Lea Fischer (12/12)', result: { statements: 12 } });
  expect((await fetch(api, { headers: admin })).status).toBe(200);
  // The home page lists it.
  expect(await (await fetch(`${base}/`, { headers: demo })).text()).toContain(`/deferred/jobs/${id}`);

  // bull-board is for the admin only.
  expect((await fetch(`${base}/deferred/queues`, { headers: demo })).status).toBe(403);
  expect((await fetch(`${base}/deferred/queues`, { headers: admin })).status).toBe(200);

  // A form on another site cannot start jobs with the user's credentials.
  const evil = await fetch(`${base}/start`, { method: 'POST', headers: { ...demo, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body: '', redirect: 'manual' });
  expect(evil.status).toBe(403);
  expect(evil.headers.get('location')).toBeNull();
}
