import { inspect } from 'node:util';

// Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org).
const useColor = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
const paint = (code: number) => (text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

export const bold = paint(1);
export const dim = paint(2);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const cyan = paint(36);

/** Prints a line on stdout. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Prints a section heading, with a blank line before it. */
export function heading(title: string): void {
  say();
  say(bold(title));
}

/** Prints `  label   value` with the labels aligned. */
export function field(label: string, value: string, width = 8): void {
  say(`  ${label.padEnd(width)}  ${value}`);
}

/** A value on one line, as Node prints it (Dates, Maps and Sets included). */
export function show(value: unknown): string {
  return inspect(value, { depth: 4, breakLength: Infinity, compact: true, colors: useColor });
}

/** Milliseconds as "2.3 s". */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
