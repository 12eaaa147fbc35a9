import type { FastifyRequest } from 'fastify';
import { DeferralError } from '../src/errors.js';

/** Who is asking: `admin` sees every job and bull-board; others only jobs whose uid is theirs. */
export interface Identity {
  uid: string | number;
  admin?: boolean;
  /** Set for a caller that presented `metricsToken`: it may read `/metrics` only. */
  metricsOnly?: boolean;
}

/**
 * Options of `dashboardPlugin`. At least one of `authenticate`, `tokens` and `basicAuth`
 * is required: every route answers 401 without credentials.
 *
 * @example
 * ```ts
 * app.register(dashboardPlugin, { prefix: '/deferred', basicAuth: { ops: { password: process.env.OPS_PASSWORD!, uid: 'ops', admin: true } } })
 * ```
 */
export interface DashboardOptions {
  /** Your own check (session cookie, JWT…): the identity, or undefined for "not authenticated". */
  authenticate?: (request: FastifyRequest) => Identity | undefined | Promise<Identity | undefined>;
  /** `Authorization: Bearer <token>` → identity. */
  tokens?: Record<string, Identity>;
  /** `Authorization: Basic …` user name → password and identity. Browsers prompt for it. */
  basicAuth?: Record<string, Identity & { password: string }>;
  /** `Authorization: Bearer <metricsToken>` may read `GET /metrics` (Prometheus) and nothing else; admins may too. */
  metricsToken?: string;
  /** bull-board without retry/remove/clean buttons. @defaultValue `false` */
  readOnly?: boolean;
  /** How long the progress page follows a job before it says the job takes too long. @defaultValue `600000` (10 min) */
  pageTimeoutMs?: number;
  /** How often the job API's live stream reads a watched job. @defaultValue `250` */
  pollIntervalMs?: number;
  /** Shown in bull-board and on the progress page. @defaultValue `'typeorm-deferred'` */
  title?: string;
}

/** Options after checks, with defaults. */
export type ResolvedDashboardOptions = Required<Pick<DashboardOptions, 'readOnly' | 'pageTimeoutMs' | 'pollIntervalMs' | 'title'>> & DashboardOptions;

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid dashboard option ${option}: ${why}`, { option, value });
}

const isUid = (v: unknown) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** Checks the plugin options; a dashboard without any authentication is refused. */
export function resolveDashboardOptions(options: DashboardOptions = {}): ResolvedDashboardOptions {
  const { authenticate, tokens, basicAuth } = options;
  if (authenticate !== undefined && typeof authenticate !== 'function') throw invalid('authenticate', authenticate, 'must be a function (request) => { uid, admin? } | undefined');
  for (const [token, id] of Object.entries(tokens ?? {})) {
    if (token.length < 16) throw invalid('tokens', '<hidden>', 'each token must be at least 16 characters long');
    if (!id || !isUid(id.uid)) throw invalid('tokens', '<hidden>', 'each token maps to { uid: string | number, admin?: boolean }');
  }
  if (options.metricsToken !== undefined && !(typeof options.metricsToken === 'string' && options.metricsToken.length >= 16)) {
    throw invalid('metricsToken', '<hidden>', 'must be a string of at least 16 characters');
  }
  for (const [user, entry] of Object.entries(basicAuth ?? {})) {
    if (!entry || typeof entry.password !== 'string' || entry.password.length === 0 || !isUid(entry.uid)) {
      throw invalid(`basicAuth.${user}`, '<hidden>', 'must be { password: non-empty string, uid: string | number, admin?: boolean }');
    }
    if (user.includes(':')) throw invalid(`basicAuth.${user}`, user, "a user name cannot contain ':'");
  }
  if (!authenticate && !Object.keys(tokens ?? {}).length && !Object.keys(basicAuth ?? {}).length) {
    throw invalid('authenticate', undefined, 'the dashboard requires authentication: give authenticate, tokens or basicAuth');
  }
  const pageTimeoutMs = options.pageTimeoutMs ?? 600_000;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  if (!(Number.isFinite(pageTimeoutMs) && pageTimeoutMs > 0)) throw invalid('pageTimeoutMs', pageTimeoutMs, 'must be a number of ms > 0');
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs >= 20)) throw invalid('pollIntervalMs', pollIntervalMs, 'must be a number of ms ≥ 20');
  return { ...options, readOnly: options.readOnly ?? false, pageTimeoutMs, pollIntervalMs, title: options.title ?? 'typeorm-deferred' };
}
