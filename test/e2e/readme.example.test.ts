import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = join(process.cwd(), '.readme-example');

/** The ```ts block of the README whose first line is `// <file>`. */
function block(readme: string, file: string): string {
  const m = new RegExp('```ts\\n// ' + file.replace('.', '\\.') + '\\n([\\s\\S]*?)```').exec(readme);
  if (!m) throw new Error(`README has no \`\`\`ts block starting with // ${file}`);
  return m[1];
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

  it('compiles as written and prints the delayed state and the result', async () => {
    const readme = readFileSync('README.md', 'utf8');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'invoice.ts'), block(readme, 'invoice.ts'));
    writeFileSync(join(dir, 'main.ts'), block(readme, 'main.ts'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true,
        experimentalDecorators: true, emitDecoratorMetadata: true, rootDir: dir, outDir: join(dir, "out"), types: ["node"],
      },
      include: ['*.ts'],
    }));
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', join(dir, 'tsconfig.json')]);

    // A private Redis, so the example's default prefix touches nothing else.
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir]);
    for (let i = 0; i < 50; i++) {
      const up = await run('redis-cli', ['-p', String(port), 'ping']).then(() => true, () => false);
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Run from inside the package, so `import … from 'typeorm-deferred'` resolves to this package.
    const { stdout } = await run(process.execPath, ['out/main.js'], { cwd: dir, env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}` }, timeout: 30_000 });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^[0-9a-f-]{36} delayed$/);
    expect(lines[1]).toBe('invoice 1 sent by email');
  });
});
