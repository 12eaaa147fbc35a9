#!/usr/bin/env node
// Adds to package-lock.json the other platforms' optional binaries (@swc/core-darwin-arm64, …)
// that npm leaves out when the registry it reaches does not serve them: without these
// entries `npm ci` refuses the lock ("Missing: … from lock file"). Each entry only says
// "optional, for this os/cpu", so npm skips it on every other platform without fetching.
// Run it after any `npm install` that changes package-lock.json.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const OSES = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'openbsd', 'sunos'];
const CPUS = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64'];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = OSES.find((o) => parts.includes(o));
  const cpu = CPUS.find((c) => parts.includes(c));
  const libc = parts.includes('musl') ? ['musl'] : os === 'linux' && parts.some((p) => p.startsWith('gnu')) ? ['glibc'] : undefined;
  return os && cpu ? { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) } : undefined;
}

let added = 0;
for (const meta of Object.values(lock.packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const platform = platformOf(dep);
    if (lock.packages[key] || !platform) continue;
    lock.packages[key] = { version, optional: true, ...platform };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: ${added} platform entr${added === 1 ? 'y' : 'ies'} added`);
