import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DeferredConfig } from '../config.js';
import { DeferralError } from '../errors.js';

/** An error that stops a command: main prints `deferred: <code>: <message>` and exits 1. */
export class CliFailure extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliFailure';
  }
}

/**
 * Loads a config module and configures this process from it: its default export is
 * defineConfig({...}) or a function returning one (possibly async), or the module calls
 * configure() itself. Returns the module, for its other exports (`dashboard`).
 */
export async function loadConfig(path: string): Promise<Record<string, unknown>> {
  const { configure, getConfig } = await import('../config.js');
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : (err as Error).name ?? 'Error';
    throw new CliFailure(code, `cannot load the config module ${path}: ${String((err as Error).message ?? err).split('\n')[0]}`, { cause: err });
  }
  let config = mod.default;
  // TypeScript's CommonJS output of `export default x` is `exports.default = x`, which import() hands over as default.default.
  if (mod.__esModule && config && typeof config === 'object' && 'default' in config) config = (config as { default: unknown }).default;
  if (typeof config === 'function') config = await (config as () => unknown)();
  if (config && typeof config === 'object' && 'dataSources' in config) configure(config as DeferredConfig);
  try {
    getConfig();
  } catch (err) {
    if (!(err instanceof DeferralError)) throw err;
    throw new DeferralError('DEFER_ERR_NOT_CONFIGURED', `the config module ${path} neither exports defineConfig({...}) as default nor calls configure()`, { path });
  }
  return mod;
}
