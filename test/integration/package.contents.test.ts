// What `npm pack` ships, and the package.json fields a registry page and an installing app read:
// the licence, where the project lives, source maps that carry their sources (the .ts files are
// not shipped), and no install-time script of ours (npm 11 warns about each one in an app).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const REPO = 'https://github.com/typeorm-deferred/typeorm-deferred';

/** The files `npm pack` would put in the tarball (dist/ as test/global-setup.ts built it; no scripts run). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
}

describe('the published package', () => {
  it('ships the MIT licence', () => {
    expect(packedFiles()).toContain('LICENSE');
    const licence = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^MIT License\n/);
    expect(licence).toContain('Copyright (c) 2026 typeorm-deferred contributors');
    expect(pkg.license).toBe('MIT');
  });

  it('says where the project lives, where to report bugs, and what it is about', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: `git+${REPO}.git` });
    expect(pkg.homepage).toBe(`${REPO}#readme`);
    expect(pkg.bugs).toEqual({ url: `${REPO}/issues` });
    expect(pkg.keywords).toEqual(expect.arrayContaining(['typeorm', 'bullmq', 'background-jobs', 'job-queue', 'redis', 'worker', 'deferred', 'progress', 'fastify', 'bull-board']));
  });

  it('ships source maps that carry the sources they map to', () => {
    const maps = packedFiles().filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    const without = maps.filter((file) => {
      const map = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      return map.sourcesContent?.length !== map.sources.length || map.sourcesContent.some((text) => !text);
    });
    expect(without, 'maps pointing at .ts files the package does not ship').toEqual([]);
  });

  it('has no install-time script (npm 11 warns about them in the app that installs it); packing still builds', () => {
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[hook], hook).toBeUndefined();
    expect(pkg.scripts.prepack).toBe('npm run build');
  });
});
