import { execFileSync } from 'node:child_process';

// The CLI, demo and CommonJS tests run the compiled JavaScript: build it once, before any test file,
// the way `npm run build` does (tsc, then the CommonJS entry points in dist/cjs).
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/cjs-entries.mjs'], { stdio: 'inherit' });
}
