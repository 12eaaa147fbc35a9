// The CommonJS entry points, written after `tsc` into dist/cjs (a "type": "commonjs" folder):
// - index.js / dashboard.js / testing.js require() the ES module build itself (Node >= 20.19 loads ES modules
//   from require()), so ESM and CommonJS code in one process share one copy of the library: one
//   configure(), one registry of @Deferrable() marks, one DeferralError class;
// - a copy of the declarations that TypeScript reads as CommonJS, for `module: node16`/`nodenext`
//   users in CommonJS projects (the ES module declarations would be refused there with TS1479).
import { cpSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const cjs = join(dist, 'cjs');
const ENTRIES = { index: './src/index.js', dashboard: './dashboard/index.js', testing: './testing/index.js' };

rmSync(cjs, { recursive: true, force: true });
mkdirSync(cjs, { recursive: true });
writeFileSync(join(cjs, 'package.json'), '{\n  "type": "commonjs"\n}\n');
for (const folder of ['src', 'dashboard', 'testing', 'entities']) {
  cpSync(join(dist, folder), join(cjs, folder), { recursive: true, filter: (from) => from.endsWith('.d.ts') || statSync(from).isDirectory() });
}
for (const [name, target] of Object.entries(ENTRIES)) {
  writeFileSync(join(cjs, `${name}.d.ts`), `export * from '${target}';\n`);
  writeFileSync(join(cjs, `${name}.js`), `'use strict';
// require('typeorm-deferred${name === 'index' ? '' : `/${name}`}'): the ES module build, loaded by require().
try {
  module.exports = require('.${target}');
} catch (err) {
  if (err.code !== 'ERR_REQUIRE_ESM') throw err;
  throw new Error('typeorm-deferred needs require() of ES modules (Node.js ^20.19 or >= 22.12), or load it with import()', { cause: err });
}
`);
}
