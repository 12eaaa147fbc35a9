/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** What one timed run gives: jobs per second of wall-clock time, and this process's CPU time per job. */
export interface Measure {
  rate: number;
  cpuPerJob: number;
}

/** Wall-clock ms and CPU µs (user + system, this process) spent by `fn`. */
export async function clocked(fn: () => Promise<unknown>): Promise<{ ms: number; cpuMicros: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMicros: cpu.user + cpu.system };
}

/** Runs `call` `n` times with at most `inFlight` calls pending at once; returns the elapsed ms. */
export async function timeCalls(n: number, inFlight: number, call: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, async () => {
    while (started < n) {
      started++;
      await call();
    }
  }));
  return performance.now() - t0;
}

/** Microseconds per call of `fn`, after a warm-up of a fifth as many calls. */
export async function microsPerCall(iterations: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.ceil(iterations / 5); i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  return ((performance.now() - t0) * 1000) / iterations;
}

/** `list` rotated left by `turn` places: the order the sides of a trial run in, so each goes first in turn. */
export function rotate<T>(list: readonly T[], turn: number): T[] {
  const k = ((turn % list.length) + list.length) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Formats a rate with thousands separators and no decimals. */
export const fmtRate = (v: number) => Math.round(v).toLocaleString('en-US');
export const fmtRatio = (v: number) => v.toFixed(2);
export const fmtMicros = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toString() : v.toFixed(1));

/** A plain-text table with right-aligned numeric columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A whole number ≥ 1 from the environment variable `name`, or `fallback` when it is unset. */
export function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, not ${JSON.stringify(raw)}`);
  return n;
}
