import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Identity, ResolvedDashboardOptions } from './options.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares secrets in constant time: equal-length digests, so neither length nor prefix leaks. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Finds the entry whose secret matches, comparing against every entry so timing says nothing. */
function matchAll<T>(entries: Array<[string, T]>, matches: (key: string, value: T) => boolean): T | undefined {
  let found: T | undefined;
  for (const [key, value] of entries) if (matches(key, value) && found === undefined) found = value;
  return found;
}

// Only uid and admin: an identity from the application's options never carries `metricsOnly`.
const identityOf = (i: Identity): Identity => ({ uid: i.uid, admin: i.admin === true });

/** Turns a request into an identity: `authenticate` first, then bearer tokens, then basic auth. */
export function makeAuthenticator(options: ResolvedDashboardOptions): (request: FastifyRequest) => Promise<Identity | undefined> {
  const tokens = Object.entries(options.tokens ?? {});
  const users = Object.entries(options.basicAuth ?? {});
  return async (request) => {
    if (options.authenticate) {
      const found = await options.authenticate(request);
      if (found) return identityOf(found);
    }
    const header = request.headers.authorization ?? '';
    const [scheme, value = ''] = header.split(' ', 2);
    if (/^bearer$/i.test(scheme) && tokens.length) {
      const found = matchAll(tokens, (token) => sameSecret(value, token));
      if (found) return identityOf(found);
    }
    if (/^basic$/i.test(scheme) && users.length) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const [user, password] = colon < 0 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
      const found = matchAll(users, (name, entry) => {
        const userMatches = sameSecret(user, name);
        const passwordMatches = sameSecret(password, entry.password);
        return userMatches && passwordMatches;
      });
      if (found) return identityOf(found);
    }
    return undefined;
  };
}

/** The WWW-Authenticate header of a 401: Basic makes browsers prompt for credentials. */
export function challenge(options: ResolvedDashboardOptions): string {
  // A quoted-string: quotes and backslashes escaped, control characters dropped.
  const realm = options.title.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&');
  return Object.keys(options.basicAuth ?? {}).length ? `Basic realm="${realm}", charset="UTF-8"` : `Bearer realm="${realm}"`;
}
