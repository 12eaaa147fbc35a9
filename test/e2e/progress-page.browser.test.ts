// The progress page (GET <prefix>/jobs/:id) and the schedules page in a real Chromium: live progress over SSE,
// the result, `?next=`, a failure, the Cancel button, the "taking too long" note and 401.
// Needs Chromium at CHROMIUM_PATH, else Debian's /usr/bin/chromium (`npm test` installs it when it may); never downloads a browser.
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../dashboard/index.js';
import { Deferred, defineTask, listSchedules, schedule, unschedule, type DeferredJob } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const USER = 'alice';
const PASSWORD = 'e2e-secret-password';
const SCREENSHOT = join(ROOT, 'test-results', 'progress-page.png');

let browser: Browser | undefined;
let h: Harness | undefined;
let app: FastifyInstance | undefined;
let origin = '';
const contexts: BrowserContext[] = [];
const jobs: DeferredJob[] = [];

/** A fresh browser context (basic auth unless `credentials` is false) and a page in it. */
async function newPage(credentials = true): Promise<Page> {
  const context = await browser!.newContext(credentials ? { httpCredentials: { username: USER, password: PASSWORD } } : {});
  contexts.push(context);
  return context.newPage();
}

/** A saved Account of alice's to defer methods on. */
async function account(): Promise<Account> {
  const m = h!.dataSource.manager;
  return m.save(m.create(Account, { name: 'b', balance: 0, note: null }));
}

/** Remembers a job so afterAll can cancel one a failed test left running. */
function track<J extends DeferredJob>(job: J): J {
  jobs.push(job);
  return job;
}

interface Sample { width: number; percent: string; state: string }
// Run in the page (a string: the tests compile without the DOM library). The bar's inline width, not its animated one.
const READ_SAMPLE = `({
  width: parseFloat(document.getElementById('bar').style.width),
  percent: document.getElementById('percent').textContent,
  state: document.getElementById('state').textContent,
})`;

const text = (page: Page, selector: string) => page.locator(selector).textContent();

defineTask('e2e-tick', () => 'ticked');

describe('progress page in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install chromium\` or set CHROMIUM_PATH (the browser tests never download one)`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    h = await setup('sqlite');
    app = Fastify();
    await app.register(dashboardPlugin, { prefix: '/deferred', basicAuth: { [USER]: { password: PASSWORD, uid: USER } } });
    // The same dashboard with a short page timeout, for the "taking too long" note.
    await app.register(dashboardPlugin, { prefix: '/short', pageTimeoutMs: 1500, basicAuth: { [USER]: { password: PASSWORD, uid: USER } } });
    // Outside the plugins: no authentication.
    app.get('/done-page', async (_request, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><title>done</title><p id="done">all done</p>'));
    await app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    // Closing the contexts closes their event streams before the next test.
    await Promise.allSettled(contexts.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await Promise.allSettled(contexts.splice(0).map((c) => c.close()));
    await browser?.close();
    // A job a failed test left running would hold the worker's shutdown.
    await Promise.allSettled(jobs.map((j) => j.cancel()));
    await app?.close();
    await h?.cleanup();
  });

  it('follows a running job live, then shows the full bar and the result', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'countTo', 8, 250));
    const page = await newPage();
    const api = `${origin}/deferred/api/jobs/${encodeURIComponent(job.id)}`;
    const polls: string[] = [];
    page.on('request', (r) => { if (r.url() === api) polls.push(r.url()); });
    const stream = page.waitForResponse(`${api}/events`);
    const response = await page.goto(`${origin}/deferred/jobs/${encodeURIComponent(job.id)}`);
    expect(response?.status()).toBe(200);
    // Followed live over Server-Sent Events.
    expect((await stream).status()).toBe(200);
    expect((await stream).headers()['content-type']).toMatch(/^text\/event-stream/);

    // Sample what the browser shows until the job ends.
    const samples: Sample[] = [];
    const deadline = Date.now() + 15_000;
    for (;;) {
      const s = await page.evaluate<Sample>(READ_SAMPLE);
      samples.push(s);
      if (s.state === 'completed' || s.state === 'failed' || Date.now() > deadline) break;
      await page.waitForTimeout(40);
    }
    const widths = samples.map((s) => s.width).filter((w, i, all) => i === 0 || w !== all[i - 1]);
    console.log(`progress widths seen by the browser (%): ${widths.join(', ')}`);

    // Never goes down, at least 3 distinct values on the way, then 100 and completed.
    for (let i = 1; i < widths.length; i++) expect(widths[i], `widths ${widths.join(', ')}`).toBeGreaterThan(widths[i - 1]);
    const below100 = new Set(widths.filter((w) => w > 0 && w < 100));
    expect(below100.size, `widths ${widths.join(', ')}`).toBeGreaterThanOrEqual(3);
    const last = samples.at(-1)!;
    expect(last).toEqual({ width: 100, percent: '100', state: 'completed' });
    expect(await page.locator('#bar').getAttribute('class')).toBe('completed');
    expect(await text(page, '#message')).toBe('step 8 of 8');
    // null here: the page got a 'completed' snapshot read before the job's return value was stored.
    expect(JSON.parse((await text(page, '#result'))!), '#result of the completed job').toBe(8);
    expect(await page.locator('#cancel').isHidden()).toBe(true);
    expect(polls, 'the page fell back to polling the JSON API').toEqual([]);

    await page.waitForTimeout(300); // the bar's width transition (.25 s)
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('goes to ?next= once the job has completed', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'countTo', 2, 100));
    const page = await newPage();
    await page.goto(`${origin}/deferred/jobs/${encodeURIComponent(job.id)}?next=/done-page`);
    await page.waitForURL(`${origin}/done-page`, { timeout: 10_000 });
    expect(await text(page, '#done')).toBe('all done');
    expect(await job.state()).toBe('completed');
  });

  it('shows the error of a failed job', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'depositThenFail', 1, 'card declined'));
    const page = await newPage();
    await page.goto(`${origin}/deferred/jobs/${encodeURIComponent(job.id)}`);
    await page.locator('#error').waitFor({ timeout: 10_000 });
    expect(await text(page, '#error')).toContain('card declined');
    expect(await text(page, '#state')).toBe('failed');
    expect(await page.locator('#bar').getAttribute('class')).toBe('failed');
    expect(await page.locator('#result').count()).toBe(0);
  });

  it('cancels a running job with the Cancel button', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'wait', 20_000));
    const page = await newPage();
    await page.goto(`${origin}/deferred/jobs/${encodeURIComponent(job.id)}`);
    // Wait until the worker runs it, so the button cancels a running job (not a waiting one).
    await page.locator('#state', { hasText: 'active' }).waitFor({ timeout: 10_000 });
    const started = Date.now();
    await page.locator('#cancel').click();
    await page.locator('#state', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await text(page, '#outcome')).toContain('The job was cancelled.');
    expect(await page.locator('#bar').getAttribute('class')).toBe('cancelled');
    expect(await page.locator('#cancel').isHidden()).toBe(true);
    expect(await job.state()).toBe('cancelled');
  });

  it('says the job takes too long after pageTimeoutMs', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'wait', 20_000));
    const page = await newPage();
    const opened = Date.now();
    await page.goto(`${origin}/short/jobs/${encodeURIComponent(job.id)}`);
    await page.locator('#too-long').waitFor({ timeout: 10_000 });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1_400);
    expect(await text(page, '#too-long')).toMatch(/taking longer than expected \(1\.5 s\)\. The job is still (waiting|active)/);
    expect(await job.cancel()).toBe(true);
  });

  it('lists the schedules that run as the user, and the last run leads to its progress page', async () => {
    await schedule('e2e-tick', { every: 1_000 }, { task: 'e2e-tick', uid: USER });
    await schedule('someone-elses', { every: 60_000 }, { task: 'e2e-tick', uid: 'bob' });
    try {
      for (const end = Date.now() + 10_000; (await listSchedules()).find((s) => s.name === 'e2e-tick')?.last?.state !== 'completed';) {
        if (Date.now() > end) throw new Error('the schedule did not run');
        await new Promise((r) => setTimeout(r, 100));
      }
      const page = await newPage();
      expect((await page.goto(`${origin}/deferred/schedules`))?.status()).toBe(200);
      const row = page.locator('tr[data-name="e2e-tick"]');
      expect(await row.locator('td').allTextContents()).toEqual(expect.arrayContaining(['e2e-tick', 'every 1s', 'task e2e-tick', 'default']));
      expect(await page.locator('tr[data-name="someone-elses"]').count()).toBe(0);
      await row.locator('td.last a').click();
      await page.waitForURL(/\/deferred\/jobs\/repeat%3Ae2e-tick%3A\d+$/);
      await page.waitForFunction(`document.getElementById('state').textContent === 'completed'`);
      expect(await text(page, '#outcome')).toContain('ticked');
    } finally {
      await unschedule('e2e-tick');
      await unschedule('someone-elses');
    }
  });

  it('answers 401 without credentials', async () => {
    const job = track(await Deferred(await account(), h!.dataSource, USER, 'countTo', 1, 10));
    const page = await newPage(false);
    const url = `${origin}/deferred/jobs/${encodeURIComponent(job.id)}`;
    // Headless Chromium with no credentials to give cancels the Basic challenge: the navigation fails with
    // ERR_INVALID_AUTH_CREDENTIALS (a known Playwright/Chromium behaviour), after the 401 response arrived.
    const answered = page.waitForResponse(url);
    const navigation = await page.goto(url).then(() => 'loaded', (err: Error) => err.message);
    const response = await answered;
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toMatch(/^Basic realm=/);
    expect(navigation).toContain('net::ERR_INVALID_AUTH_CREDENTIALS');
    expect(await page.locator('#bar').count()).toBe(0);
    await job.result({ timeoutMs: 5_000 });
  });
});
