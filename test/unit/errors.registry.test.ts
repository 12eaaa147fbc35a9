import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeFromStack, DeferralError, ERROR_CODES, isDeferralError, UNRECOVERABLE_CODES, type DeferralErrorCode } from '../../src/errors.js';
import * as index from '../../src/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CODES = Object.keys(ERROR_CODES) as DeferralErrorCode[];

describe('ERROR_CODES', () => {
  it('is not empty and every key looks like DEFER_ERR_*', () => {
    expect(CODES.length).toBeGreaterThan(0);
    for (const code of CODES) expect(code).toMatch(/^DEFER_ERR_[A-Z_]+$/);
  });

  it('every code has a non-empty description', () => {
    for (const code of CODES) {
      const description = ERROR_CODES[code];
      expect(typeof description, code).toBe('string');
      expect(description.trim().length, code).toBeGreaterThan(0);
    }
  });

  it('holds at least the codes the design names', () => {
    const required = [
      'DEFER_ERR_NOT_CONFIGURED', 'DEFER_ERR_UNKNOWN_DATA_SOURCE', 'DEFER_ERR_UNKNOWN_MODEL',
      'DEFER_ERR_METHOD_NOT_DEFERRABLE', 'DEFER_ERR_INVALID_OPTION', 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT',
      'DEFER_ERR_UNSAVED_RECORD', 'DEFER_ERR_RECORD_NOT_FOUND', 'DEFER_ERR_NOT_AUTHORIZED',
      'DEFER_ERR_BAD_PAYLOAD', 'DEFER_ERR_JOB_FAILED', 'DEFER_ERR_TIMEOUT', 'DEFER_ERR_CANCELLED',
    ];
    for (const code of required) expect(CODES).toContain(code);
  });

  it('UNRECOVERABLE_CODES only holds registered codes', () => {
    for (const code of UNRECOVERABLE_CODES) expect(CODES).toContain(code);
  });

  it('is the same object the package index exports', () => {
    expect(index.ERROR_CODES).toBe(ERROR_CODES);
    expect(index.DeferralError).toBe(DeferralError);
  });
});

describe('DeferralError', () => {
  const cause = new Error('socket closed');
  const err = new DeferralError('DEFER_ERR_TIMEOUT', 'job 7 ran longer than 100 ms', { jobId: '7', timeout: 100 }, { cause });

  it('has code, details and name', () => {
    expect(err.code).toBe('DEFER_ERR_TIMEOUT');
    expect(err.details).toEqual({ jobId: '7', timeout: 100 });
    expect(err.name).toBe('DeferralError');
    expect(err.message).toBe('job 7 ran longer than 100 ms');
  });

  it('is an Error and a DeferralError', () => {
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(DeferralError);
    expect(isDeferralError(err)).toBe(true);
    expect(isDeferralError(err, 'DEFER_ERR_TIMEOUT')).toBe(true);
    expect(isDeferralError(err, 'DEFER_ERR_CANCELLED')).toBe(false);
    expect(isDeferralError(new Error('x'))).toBe(false);
    expect(isDeferralError({ code: 'DEFER_ERR_TIMEOUT' })).toBe(false);
  });

  it('keeps its cause', () => {
    expect(err.cause).toBe(cause);
  });

  it('defaults details to an empty object', () => {
    expect(new DeferralError('DEFER_ERR_CANCELLED', 'gone').details).toEqual({});
  });

  it("stack's first line is `DeferralError [CODE]: message`", () => {
    expect(err.stack!.split('\n')[0]).toBe('DeferralError [DEFER_ERR_TIMEOUT]: job 7 ran longer than 100 ms');
  });

  it('toString() uses the plain name', () => {
    expect(String(err)).toBe('DeferralError: job 7 ran longer than 100 ms');
  });

  it('codeFromStack() reads the code back for every code', () => {
    for (const code of CODES) {
      expect(codeFromStack(new DeferralError(code, `about ${code}`).stack)).toBe(code);
    }
  });

  it('codeFromStack() returns undefined for an ordinary Error stack', () => {
    expect(codeFromStack(new Error('plain').stack)).toBeUndefined();
    expect(codeFromStack(new TypeError('plain').stack)).toBeUndefined();
  });

  it('codeFromStack() returns undefined for missing stacks and unregistered codes', () => {
    expect(codeFromStack(undefined)).toBeUndefined();
    expect(codeFromStack('')).toBeUndefined();
    expect(codeFromStack('DeferralError [DEFER_ERR_MADE_UP]: nope\n    at x')).toBeUndefined();
  });

  it('codeFromStack() only reads the header, not a code quoted further down', () => {
    expect(codeFromStack('Error: wrapped\n    DeferralError [DEFER_ERR_TIMEOUT]: inner')).toBeUndefined();
  });
});

describe('every code is documented in README.md', () => {
  const readmePath = join(ROOT, 'README.md');

  it('README.md exists at the repository root', () => {
    expect(existsSync(readmePath), `${readmePath} is missing`).toBe(true);
  });

  it('README.md mentions every code of ERROR_CODES', () => {
    const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
    const missing = CODES.filter((code) => !new RegExp(`\\b${code}\\b`).test(readme));
    expect(missing, `codes not in README.md: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('every code thrown in src/ is registered', () => {
  function tsFiles(dir: string): string[] {
    return (readdirSync(dir, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f));
  }

  const files = tsFiles(join(ROOT, 'src'));
  const used = new Map<string, string[]>();
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(['"`])(DEFER_ERR_[A-Za-z0-9_]*)\1/g)) {
      const where = used.get(m[2]!) ?? [];
      where.push(file.slice(ROOT.length + 1));
      used.set(m[2]!, where);
    }
  }

  it('finds the source files and the codes they use', () => {
    expect(files.length).toBeGreaterThan(5);
    expect(used.size).toBeGreaterThan(5);
    expect(used.has('DEFER_ERR_INVALID_OPTION')).toBe(true);
  });

  it("every 'DEFER_ERR_…' literal in src/**/*.ts is a key of ERROR_CODES", () => {
    const unregistered = [...used].filter(([code]) => !(code in ERROR_CODES)).map(([code, where]) => `${code} (${[...new Set(where)].join(', ')})`);
    expect(unregistered).toEqual([]);
  });
});
