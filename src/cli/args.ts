import { parseArgs } from 'node:util';

/** One option of a command, as parseArgs takes it plus what its help says. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help, e.g. `<module>`. */
  value?: string;
  description: string;
}

/** A positional argument of a command. */
export interface PositionalSpec {
  name: string;
  description: string;
}

/** What a command accepts: parsed with util.parseArgs, strict, and shown by `--help`. */
export interface CommandSpec {
  name: string;
  summary: string;
  positionals: PositionalSpec[];
  options: Record<string, OptionSpec>;
  /** Paragraphs after the options: defaults, exit codes. */
  notes?: string;
}

/** A wrong command line: main prints one line and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: CommandSpec) {
    super(message);
    this.name = 'UsageError';
  }
}

export type ParsedValues = Record<string, string | boolean | undefined>;

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'Show this help.' },
  verbose: { type: 'boolean', description: 'Print the stack trace of an error (so does the DEBUG environment variable).' },
};

function allOptions(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, ...COMMON_OPTIONS };
}

/** Edit distance with adjacent swaps (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `word`, if one is close enough to be a typo (or `word` starts it). */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = word.length >= 2 && c.startsWith(word) ? 0.5 : distance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function unknownOption(spec: CommandSpec, rawName: string): UsageError {
  const names = Object.keys(allOptions(spec));
  const guess = rawName.startsWith('--') ? suggest(rawName.slice(2), names) : undefined;
  return new UsageError(`unknown option '${rawName}' for '${spec.name}'${guess ? ` (did you mean --${guess}?)` : ''}`, spec);
}

/** True when the command line asks for help, before anything else is checked. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Parses a command's arguments with util.parseArgs (strict). A first, lenient pass finds
 * the first wrong token so the message can name it and suggest the option meant.
 */
export function parseCommand(spec: CommandSpec, args: string[]): { values: ParsedValues; positionals: string[] } {
  const options = allOptions(spec);
  const config = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, o.short ? { type: o.type, short: o.short } : { type: o.type }]));
  const { tokens } = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const o = options[t.name];
    if (!o) throw unknownOption(spec, t.rawName);
    if (o.type === 'string' && (t.value === undefined || (t.inlineValue === false && t.value.startsWith('-') && t.value.length > 1))) {
      throw new UsageError(`option '${t.rawName}' needs a value: --${t.name} ${o.value ?? '<value>'}`, spec);
    }
    if (o.type === 'boolean' && t.value !== undefined) throw new UsageError(`option '--${t.name}' takes no value`, spec);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: true });
  } catch (err) {
    // Anything the lenient pass let through: Node's message, first sentence.
    throw new UsageError(String((err as Error).message).split(/\.\s/)[0], spec);
  }
  const { values, positionals } = parsed as { values: ParsedValues; positionals: string[] };
  const missing = spec.positionals[positionals.length];
  if (missing) throw new UsageError(`missing <${missing.name}>: deferred ${spec.name} ${synopsis(spec)}`, spec);
  const extra = positionals[spec.positionals.length];
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for '${spec.name}'`, spec);
  return { values, positionals };
}

/** `<jobId> [options]`. */
function synopsis(spec: CommandSpec): string {
  return [...spec.positionals.map((p) => `<${p.name}>`), '[options]'].join(' ');
}

/** The help of one command: usage line, summary, options, notes. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries(allOptions(spec)).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = [`Usage: deferred ${spec.name} ${synopsis(spec)}`, '', spec.summary];
  if (spec.positionals.length) lines.push('', 'Arguments:', ...spec.positionals.map((p) => `  ${`<${p.name}>`.padEnd(width)}${p.description}`));
  lines.push('', 'Options:', ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`));
  if (spec.notes) lines.push('', spec.notes);
  return lines.join('\n');
}
