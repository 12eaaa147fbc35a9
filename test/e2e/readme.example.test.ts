import { execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../dashboard/index.js';
import { DeferredType } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';
import { startPrivateRedis } from '../redis-server.js';

const run = promisify(execFile);
const dir = join(process.cwd(), '.readme-example');

/** The fenced block (```ts, ```jsonc…) of the README whose first line is `// <file>`. */
function block(readme: string, file: string, lang = 'ts'): string {
  const m = new RegExp('```' + lang + '\\n// ' + file.replace('.', '\\.') + '\\n([\\s\\S]*?)```').exec(readme);
  if (!m) throw new Error(`README has no \`\`\`${lang} block starting with // ${file}`);
  return m[1];
}

/** The README's ```js block that follows a job with EventSource. */
function eventSourceSnippet(readme: string): string {
  const found = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes('new EventSource('));
  if (found.length !== 1) throw new Error(`README has ${found.length} \`\`\`js blocks with new EventSource(, expected 1`);
  return found[0];
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

describe('the README example', () => {
  let redis: ChildProcess | undefined;
  afterAll(() => {
    redis?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('compiles with the README tsconfig and runs, the entity module imported first', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const files = { 'invoice.ts': block(readme, 'invoice.ts'), 'data-source.ts': block(readme, 'data-source.ts'), 'main.ts': block(readme, 'main.ts') };
    // The entity must not import the data-source module: that module imports the entity, and the
    // cycle makes `new DataSource({ entities: [Invoice] })` meet Invoice before its initialization.
    expect(files['invoice.ts']).not.toMatch(/from '\.\/data-source\.js'/);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    // The order that crashed with the cycle: the entity's module is loaded before anything else.
    writeFileSync(join(dir, 'entity-first.ts'), "import './invoice.js';\nimport './main.js';\n");
    writeFileSync(join(dir, 'tsconfig.json'), block(readme, 'tsconfig.json', 'jsonc'));
    // As written, except where the build goes (the README's src/ and dist/ are a project's layout).
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', join(dir, 'tsconfig.json'), '--rootDir', dir, '--outDir', join(dir, 'out')]);

    // A private Redis, so the example's default prefix touches nothing else.
    const port = await freePort();
    redis = await startPrivateRedis(port, dir);
    // Run from inside the package, so `import … from 'typeorm-deferred'` resolves to this package.
    const { stdout } = await run(process.execPath, ['out/entity-first.js'], { cwd: dir, env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}` }, timeout: 30_000 });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^[0-9a-f-]{36} delayed$/);
    expect(lines[1]).toBe('invoice 1 sent by email');
  }, 120_000);   // tsc on TypeORM's types alone takes 10-20 s, more on a busy machine
});

const TOKEN = 'readme-token-0123456789abcdef';

/**
 * The parts of the browser's EventSource the README snippet relies on (Node 20 has none): each
 * `data:` event to `onmessage`, and, as browsers do, a new connection whenever the stream ends or
 * drops, until `close()`. The credentials a browser would send come from `headers`. With
 * `dropFirst`, the first connection is cut after its first event (a network blip).
 */
function eventSourceClass(base: string, headers: Record<string, string>, options: { dropFirst: boolean }) {
  const stats = { connections: 0, open: 0 };
  class FakeEventSource {
    onmessage: ((event: { data: string }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    private closed = false;
    private request?: http.ClientRequest;
    constructor(private readonly url: string, _init?: { withCredentials?: boolean }) {
      this.connect();
    }
    close(): void {
      this.closed = true;
      this.request?.destroy();
    }
    private connect(): void {
      if (this.closed) return;
      const nth = ++stats.connections;
      stats.open++;
      const request = http.get(new URL(this.url, base), { agent: false, headers: { accept: 'text/event-stream', ...headers } });
      this.request = request;
      let reopened = false;
      const reopen = () => {
        if (reopened) return;
        reopened = true;
        stats.open--;
        setImmediate(() => this.connect());
      };
      request.on('error', reopen);
      request.on('response', (response) => {
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const lines = buffer.slice(0, end).split('\n');
            buffer = buffer.slice(end + 2);
            const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
            if (!data.length || this.closed) continue;
            this.onmessage?.({ data: data.join('\n') });
            if (nth === 1 && options.dropFirst) {
              request.destroy();
              return;
            }
          }
        });
        response.on('end', reopen);
        response.on('close', reopen);
      });
    }
  }
  return { EventSource: FakeEventSource, stats };
}

describe('the README front-end snippet', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('follows a job through the real SSE stream and renders each state once, reconnect included', async () => {
    h = await setup('sqlite');
    const app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: '/deferred', pollIntervalMs: 40, tokens: { [TOKEN]: { uid: 1 } } });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const headers = { authorization: `Bearer ${TOKEN}` };

    const manager = h.dataSource.manager;
    const account = await manager.save(manager.create(Account, { name: 'readme', balance: 0, note: null }));
    const job = await DeferredType({ countdown: 1 })(account, 'main', 1, 'countTo', 3, 100);

    const rendered: string[] = [];
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const render = (view: { done: boolean }) => {
      rendered.push(JSON.stringify(view));
      if (view.done) finished();
    };
    // For a snippet that also fetches: what a browser would do with the same credentials.
    const fetchLikeABrowser = (url: string, init?: RequestInit) => fetch(new URL(url, base), { ...init, headers });
    const { EventSource, stats } = eventSourceClass(base, headers, { dropFirst: true });
    const AsyncFunction = (async () => undefined).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
    const snippet = new AsyncFunction('EventSource', 'fetch', 'render', 'id', eventSourceSnippet(readFileSync('README.md', 'utf8')));
    await snippet(EventSource, fetchLikeABrowser, render, job.id);

    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`no final state rendered; rendered: ${rendered.join('\n')}`)), 15_000))]);
    await new Promise((r) => setTimeout(r, 300));   // anything rendered late would show now

    const views = rendered.map((r) => JSON.parse(r) as { state: string; done: boolean; percent: number; result?: unknown });
    const repeats = rendered.filter((r, i) => rendered.indexOf(r) !== i);
    expect(repeats, `rendered twice:\n${repeats.join('\n')}`).toEqual([]);
    expect(views[0]).toMatchObject({ state: 'delayed', done: false });
    expect(views.map((v) => v.state)).toContain('active');
    expect(views.at(-1)).toMatchObject({ state: 'completed', done: true, percent: 100, result: 3 });
    expect(views.filter((v) => v.done)).toHaveLength(1);
    // The blip's reconnect, then none after the final state: the snippet closed the stream.
    expect(stats.connections).toBe(2);
    expect(stats.open).toBe(0);
  });
});
