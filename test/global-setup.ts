import { execFileSync } from 'node:child_process';

// The CLI and demo tests run the compiled JavaScript: build it once, before any test file.
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
