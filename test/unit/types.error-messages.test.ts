// The compiler's messages for wrong Deferred() calls: they must name the method or the argument,
// not blame the model ("Argument of type 'Invoice' is not assignable to parameter of type 'string'").
// A `@ts-expect-error` only proves that there is an error; this compiles small snippets with the
// TypeScript API, in one program, and reads the text and the position of each diagnostic.
import path from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
// Virtual files beside the type tests, so they import the fixture entities and src/ as those do.
const dir = path.join(root, 'test/types');
const HEADER = [
  "import { Deferred, DeferredType, HighPriorityDeferred, LowPriorityDeferred, LowPriorityDeferredType } from '../../src/index.js';",
  "import { ds, Invoice, invoice, invoices, InvoiceRepository, readonlyInvoices, Report, report } from './entities.js';",
  '',
].join('\n');

/** Each snippet is one call; `at` is the source text the error must be reported on. */
const snippets = {
  valid: 'Deferred(Invoice, ds, 1, \'closeAll\', \'2026-11\'); Deferred(invoice, ds, 1, \'recompute\', 2); Deferred(\'Invoice\', ds, 1, \'anything\', 1);',
  staticName: "Deferred(Invoice, ds, 1, 'closeAl', '2026-11');",
  instanceName: "Deferred(invoice, ds, 1, 'recompte', 1.2);",
  arrayName: "Deferred(invoices, ds, 1, 'recompte', 1.2);",
  readonlyArrayName: "Deferred(readonlyInvoices, ds, 1, 'archve');",
  factoryName: "Deferred(InvoiceRepository, ds, 1, 'closeMnth', '2026-11');",
  repositoryName: "Deferred(InvoiceRepository(ds), ds, 1, 'closeMnth', '2026-11');",
  baseEntityName: "Deferred(report, ds, 1, 'genrate', 'pdf');",
  baseEntityStaticName: "Deferred(Report, ds, 1, 'rebuild');",
  highName: "HighPriorityDeferred(invoice, ds, 1, 'recompte', 2);",
  typedName: "DeferredType({ countdown: 5 })(Invoice, ds, 1, 'closeAl', '2026-11');",
  argumentType: "Deferred(invoice, ds, 1, 'recompute', '1.2');",
  staticArgumentType: "Deferred(Invoice, ds, 1, 'closeAll', 202611);",
  repositoryArgumentType: "Deferred(InvoiceRepository, ds, 1, 'totals', 'ACME', '2026-01-01');",
  literalArgumentType: "LowPriorityDeferred(report, ds, 1, 'generate', 'docx');",
  tooMany: "Deferred(Invoice, ds, 1, 'count', 1);",
  tooManyOptional: "LowPriorityDeferredType()(Invoice, ds, 1, 'closeAll', '2026-11', true, 'extra');",
  missing: "Deferred(invoice, ds, 1, 'recompute');",
} as const;
type Name = keyof typeof snippets;

const fileOf = (name: Name) => path.join(dir, `__error-message-${name}.ts`);
const diagnostics = new Map<Name, readonly ts.Diagnostic[]>();

/** Compiles every snippet in one program with the type tests' compiler options. */
function compile(): void {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(dir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); },
  });
  if (!config) throw new Error('test/types/tsconfig.json could not be read');
  const options = { ...config.options, noEmit: true };
  const virtual = new Map((Object.keys(snippets) as Name[]).map((n) => [fileOf(n), HEADER + snippets[n]]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const text = virtual.get(f);
    return text === undefined ? getSourceFile.call(host, f, language, ...rest) : ts.createSourceFile(f, text, language);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  for (const name of Object.keys(snippets) as Name[]) {
    const file = program.getSourceFile(fileOf(name))!;
    diagnostics.set(name, [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]);
  }
}

interface Reported { message: string; at: string }

/** The one error a snippet must produce: its full message and the source text it flags. */
function errorOf(name: Name): Reported {
  const found = diagnostics.get(name)!;
  const texts = found.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(texts, `${name}: exactly one error`).toHaveLength(1);
  const [d] = found;
  const source = d.file!.text;
  return {
    message: texts[0],
    at: source.slice(d.start!, d.start! + d.length!),
  };
}

/**
 * Checks the message names the written method and lists the valid ones (in whatever order the
 * compiler prints a union), reported on the method argument.
 */
function expectNamesMethod(name: Name, written: string, valid: string[]): void {
  const error = errorOf(name);
  const match = /^Argument of type '"(.*)"' is not assignable to parameter of type '(.*)'\.$/.exec(error.message);
  expect(match, error.message).not.toBeNull();
  expect(match![1]).toBe(written);
  expect(match![2].split(' | ').sort()).toEqual(valid.map((v) => `"${v}"`).sort());
  expect(error.at).toBe(`'${written}'`);
}

beforeAll(compile, 120_000);

describe('compiler errors for Deferred() calls', () => {
  it('compiles the valid snippet without errors (the harness resolves src/ and the fixtures)', () => {
    expect(diagnostics.get('valid')!.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  });

  it('never answers with "No overload matches this call" nor blames the model', () => {
    for (const name of Object.keys(snippets) as Name[]) {
      for (const d of diagnostics.get(name)!) {
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        expect(d.code, `${name}: ${text}`).not.toBe(2769);
        // The old overloads' complaint: the model (Invoice, typeof Invoice, Invoice[]…) is not a string.
        expect(text, name).not.toMatch(/^Argument of type '[^'"]*(Invoice|Report)/);
      }
    }
  });

  describe('a misspelt method names it and lists the valid names', () => {
    it('static method of an entity class', () => {
      expectNamesMethod('staticName', 'closeAl', ['count', 'merge', 'closeAll']);
    });
    it('instance method of an entity instance', () => {
      expectNamesMethod('instanceName', 'recompte', ['recompute', 'sendReminder', 'archive']);
    });
    it('instance method of an array or readonly array of instances', () => {
      expectNamesMethod('arrayName', 'recompte', ['recompute', 'sendReminder', 'archive']);
      expectNamesMethod('readonlyArrayName', 'archve', ['recompute', 'sendReminder', 'archive']);
    });
    it('method of a custom repository, given as its factory or as a repository it made', () => {
      expectNamesMethod('factoryName', 'closeMnth', ['closeMonth', 'totals']);
      expectNamesMethod('repositoryName', 'closeMnth', ['closeMonth', 'totals']);
    });
    it('method of an Active Record entity: the list leaves out BaseEntity\'s own methods', () => {
      expectNamesMethod('baseEntityName', 'genrate', ['generate']);
      expectNamesMethod('baseEntityStaticName', 'rebuild', ['rebuildAll']);
    });
    it('the same with the variants (HighPriorityDeferred, DeferredType(...))', () => {
      expectNamesMethod('highName', 'recompte', ['recompute', 'sendReminder', 'archive']);
      expectNamesMethod('typedName', 'closeAl', ['count', 'merge', 'closeAll']);
    });
  });

  describe('a wrong argument is reported on that argument, with the parameter\'s type', () => {
    it.each([
      ['argumentType', "'1.2'", "Argument of type 'string' is not assignable to parameter of type 'number'."],
      ['staticArgumentType', '202611', "Argument of type 'number' is not assignable to parameter of type 'string'."],
      ['repositoryArgumentType', "'2026-01-01'", "Argument of type 'string' is not assignable to parameter of type 'Date'."],
      ['literalArgumentType', "'docx'", `Argument of type '"docx"' is not assignable to parameter of type '"pdf" | "csv"'.`],
    ] as const)('%s', (name, at, message) => {
      const error = errorOf(name);
      expect(error.message).toBe(message);
      expect(error.at).toBe(at);
    });
  });

  describe('a wrong number of arguments counts the method\'s own', () => {
    it('too many: reported on the first extra argument', () => {
      const error = errorOf('tooMany');
      expect(error.message).toBe('Expected 4 arguments, but got 5.');
      expect(error.at).toBe('1');
    });
    it('too many, past an optional parameter (LowPriorityDeferredType()(...))', () => {
      const error = errorOf('tooManyOptional');
      expect(error.message).toBe('Expected 5-6 arguments, but got 7.');
      expect(error.at).toBe("'extra'");
    });
    it('missing: counts the method\'s required parameters', () => {
      expect(errorOf('missing').message).toBe('Expected 5 arguments, but got 4.');
    });
  });
});
