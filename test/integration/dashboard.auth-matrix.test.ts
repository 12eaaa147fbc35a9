import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin, type DashboardOptions } from '../../dashboard/index.js';
import { Deferred, DeferredType, getJob, type DeferredJob } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

/** The uid the jobs under test run for. */
const OWNER_UID = 1;

type Headers = Record<string, string>;
type CallerKind = 'none' | 'wrong' | 'other' | 'owner' | 'admin';
type RouteKind = 'job' | 'cancel' | 'board' | 'unknown';

interface Caller {
  name: string;
  kind: CallerKind;
  headers: Headers;
}

interface Mechanism {
  name: string;
  options: DashboardOptions;
  callers: Caller[];
  /** What WWW-Authenticate of a 401 starts with. */
  challenge: RegExp;
}

/** The jobs one row of callers works on: a finished one to read, and its own delayed one to cancel. */
interface Jobs {
  done: string;
  cancellable: string;
}

interface RouteRow {
  name: string;
  kind: RouteKind;
  method: 'GET' | 'POST';
  url: (jobs: Jobs) => string;
}

const P = '/deferred';
const ROUTES: RouteRow[] = [
  { name: 'GET /api/jobs/:id', kind: 'job', method: 'GET', url: (j) => `${P}/api/jobs/${j.done}` },
  { name: 'GET /api/jobs/:id/events', kind: 'job', method: 'GET', url: (j) => `${P}/api/jobs/${j.done}/events` },
  { name: 'POST /api/jobs/:id/cancel', kind: 'cancel', method: 'POST', url: (j) => `${P}/api/jobs/${j.cancellable}/cancel` },
  { name: 'GET /jobs/:id', kind: 'job', method: 'GET', url: (j) => `${P}/jobs/${j.done}` },
  { name: 'GET /queues', kind: 'board', method: 'GET', url: () => `${P}/queues` },
  { name: 'GET /queues/api/queues', kind: 'board', method: 'GET', url: () => `${P}/queues/api/queues?activeQueue=default&status=completed&page=1&jobsPerPage=10` },
  { name: 'GET /no-such-page (unknown path)', kind: 'unknown', method: 'GET', url: () => `${P}/no-such-page` },
];

/** The expected status of each cell: who may see what. */
const EXPECTED: Record<CallerKind, Record<RouteKind, number>> = {
  none: { job: 401, cancel: 401, board: 401, unknown: 401 },
  wrong: { job: 401, cancel: 401, board: 401, unknown: 401 },
  // Another user's job is "not found" (never 403), so job ids do not leak; bull-board is for admins only.
  other: { job: 404, cancel: 404, board: 403, unknown: 404 },
  owner: { job: 200, cancel: 200, board: 403, unknown: 404 },
  admin: { job: 200, cancel: 200, board: 200, unknown: 404 },
};

const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });
const basic = (user: string, password: string): Headers => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

const TOKENS = { admin: 'admin-token-0123456789abcdef', alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef00' };
const PASSWORDS = { ops: 'ops-password-1', alice: 'alice-password-1', bob: 'bob-password-1' };
const HOOK_USERS: Record<string, { uid: string | number; admin?: boolean }> = { root: { uid: 'ops', admin: true }, alice: { uid: String(OWNER_UID) }, bob: { uid: 'bob' } };

const MECHANISMS: Mechanism[] = [
  {
    name: 'bearer tokens',
    options: { tokens: { [TOKENS.admin]: { uid: 'ops', admin: true }, [TOKENS.alice]: { uid: OWNER_UID }, [TOKENS.bob]: { uid: 2 } } },
    challenge: /^Bearer /,
    callers: [
      { name: 'no credentials', kind: 'none', headers: {} },
      { name: 'a bad token', kind: 'wrong', headers: bearer('not-a-token-0123456789abcdef') },
      { name: 'a prefix of a real token', kind: 'wrong', headers: bearer(TOKENS.admin.slice(0, -1)) },
      { name: 'a real token under another scheme', kind: 'wrong', headers: { authorization: `Token ${TOKENS.admin}` } },
      { name: 'another user (bob)', kind: 'other', headers: bearer(TOKENS.bob) },
      { name: 'the owner (alice)', kind: 'owner', headers: bearer(TOKENS.alice) },
      { name: 'an admin', kind: 'admin', headers: bearer(TOKENS.admin) },
    ],
  },
  {
    name: 'basic auth',
    options: {
      basicAuth: {
        ops: { password: PASSWORDS.ops, uid: 'ops', admin: true },
        alice: { password: PASSWORDS.alice, uid: OWNER_UID },
        bob: { password: PASSWORDS.bob, uid: 2 },
      },
    },
    challenge: /^Basic /,
    callers: [
      { name: 'no credentials', kind: 'none', headers: {} },
      { name: 'a bad basic password', kind: 'wrong', headers: basic('alice', 'wrong-password') },
      { name: "the admin's name with another user's password", kind: 'wrong', headers: basic('ops', PASSWORDS.alice) },
      { name: 'a bearer token against basic auth', kind: 'wrong', headers: bearer(PASSWORDS.ops) },
      { name: 'another user (bob)', kind: 'other', headers: basic('bob', PASSWORDS.bob) },
      { name: 'the owner (alice)', kind: 'owner', headers: basic('alice', PASSWORDS.alice) },
      { name: 'an admin', kind: 'admin', headers: basic('ops', PASSWORDS.ops) },
    ],
  },
  {
    name: 'a custom authenticate hook (x-user header)',
    options: {
      authenticate: (request: FastifyRequest) => {
        const user = request.headers['x-user'];
        return typeof user === 'string' ? HOOK_USERS[user] : undefined;
      },
    },
    challenge: /^Bearer /,
    callers: [
      { name: 'no credentials', kind: 'none', headers: {} },
      { name: 'an unknown x-user', kind: 'wrong', headers: { 'x-user': 'mallory' } },
      { name: 'a bearer token the hook does not know', kind: 'wrong', headers: bearer(TOKENS.admin) },
      { name: 'another user (bob)', kind: 'other', headers: { 'x-user': 'bob' } },
      // The hook gives uid '1' (a string), the job's uid is 1 (a number): the same user.
      { name: 'the owner (alice)', kind: 'owner', headers: { 'x-user': 'alice' } },
      { name: 'an admin', kind: 'admin', headers: { 'x-user': 'root' } },
    ],
  },
];

describe('dashboard: auth matrix (route × caller)', () => {
  let h: Harness | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    app = undefined;
  });

  const account = () => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'm', balance: 0, note: null }));

  async function start(options: DashboardOptions): Promise<FastifyInstance> {
    h = await setup('sqlite');
    app = h.closeWith(Fastify());
    await app.register(dashboardPlugin, { prefix: P, ...options });
    await app.ready();
    return app;
  }

  for (const mechanism of MECHANISMS) {
    it(`with ${mechanism.name}: every route answers every caller as expected`, async () => {
      await start(mechanism.options);
      const a = await account();
      const done = await Deferred(a, h!.dataSource, OWNER_UID, 'deposit', 5);
      expect(await done.result({ timeoutMs: 10_000 })).toBe(5);
      // One delayed job per caller, so that one row's cancel does not change the next row's answer.
      const cancellable = new Map<Caller, DeferredJob>();
      for (const caller of mechanism.callers) cancellable.set(caller, await DeferredType({ countdown: 60 })(a, h!.dataSource, OWNER_UID, 'deposit', 1));

      const mismatches: string[] = [];
      let cells = 0;
      for (const caller of mechanism.callers) {
        const jobs: Jobs = { done: done.id, cancellable: cancellable.get(caller)!.id };
        for (const route of ROUTES) {
          cells++;
          const expected = EXPECTED[caller.kind][route.kind];
          const res = await app!.inject({ method: route.method, url: route.url(jobs), headers: caller.headers });
          const cell = `[${mechanism.name}] ${route.name} as ${caller.name} (${caller.kind})`;
          if (res.statusCode !== expected) {
            mismatches.push(`${cell}: expected ${expected}, got ${res.statusCode} ${res.body.slice(0, 120)}`);
            continue;
          }
          if (expected === 401) {
            const header = res.headers['www-authenticate'];
            if (typeof header !== 'string' || !mechanism.challenge.test(header)) mismatches.push(`${cell}: 401 without a WWW-Authenticate matching ${mechanism.challenge} (got ${String(header)})`);
            if (res.body.includes(done.id) || res.body.includes(jobs.cancellable)) mismatches.push(`${cell}: the 401 body names the job`);
          }
          if (expected === 404 && route.kind !== 'unknown' && /Account|deposit|"state"/.test(res.body)) {
            mismatches.push(`${cell}: the 404 body tells something about the job: ${res.body.slice(0, 200)}`);
          }
          if (expected === 403 && res.body.includes('<html')) mismatches.push(`${cell}: the 403 still serves bull-board`);
        }
      }
      expect(cells).toBe(mechanism.callers.length * ROUTES.length);
      expect(mismatches, `auth matrix mismatches:\n${mismatches.join('\n')}`).toEqual([]);

      // Only the owner's and the admin's cancel took effect.
      for (const caller of mechanism.callers) {
        const state = await (await getJob(cancellable.get(caller)!.id))!.state();
        expect(state, `the job ${caller.name} tried to cancel`).toBe(caller.kind === 'owner' || caller.kind === 'admin' ? 'cancelled' : 'delayed');
      }
    });
  }

  it('basic auth refuses the right user with a wrong password, and user names or passwords that are prefixes or extensions of real ones', async () => {
    await start(MECHANISMS[1].options);
    const a = await account();
    const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, OWNER_UID, 'deposit', 1);
    const url = `${P}/api/jobs/${job.id}`;
    const refused: Array<[string, Headers]> = [
      ['the right user, a wrong password', basic('alice', 'not-her-password')],
      ['the right user, an empty password', basic('alice', '')],
      ['the right user, no colon at all', { authorization: `Basic ${Buffer.from('alice').toString('base64')}` }],
      ['a user name that is a prefix of a real one', basic('ali', PASSWORDS.alice)],
      ['an empty user name', basic('', PASSWORDS.alice)],
      ['a user name that extends a real one', basic('alice2', PASSWORDS.alice)],
      ['a password that is a prefix of the real one', basic('alice', PASSWORDS.alice.slice(0, -1))],
      ['a password that extends the real one', basic('alice', `${PASSWORDS.alice}x`)],
      ["another user's password", basic('alice', PASSWORDS.bob)],
      ['user and password swapped', basic(PASSWORDS.alice, 'alice')],
      ['the name in upper case', basic('ALICE', PASSWORDS.alice)],
      ['the colon moved', basic('alice:alice', 'password-1')],
      ['garbage instead of base64', { authorization: 'Basic %%%not-base64%%%' }],
      ['an empty Basic header', { authorization: 'Basic' }],
    ];
    const wrong: string[] = [];
    for (const [name, headers] of refused) {
      const res = await app!.inject({ method: 'GET', url, headers });
      if (res.statusCode !== 401 || !/^Basic realm=/.test(String(res.headers['www-authenticate']))) {
        wrong.push(`${name}: ${res.statusCode} ${String(res.headers['www-authenticate'])}`);
      }
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
    // The real credentials pass, whatever the case of the scheme name.
    for (const scheme of ['Basic', 'basic', 'BASIC']) {
      const res = await app!.inject({ method: 'GET', url, headers: { authorization: `${scheme} ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}` } });
      expect(res.statusCode, scheme).toBe(200);
    }
    // A password that contains a colon is read whole (only the first colon separates).
    const colon = Fastify();
    try {
      await colon.register(dashboardPlugin, { prefix: P, basicAuth: { carol: { password: 'pa:ss:word', uid: OWNER_UID } } });
      expect((await colon.inject({ method: 'GET', url, headers: basic('carol', 'pa:ss:word') })).statusCode).toBe(200);
      expect((await colon.inject({ method: 'GET', url, headers: basic('carol', 'pa') })).statusCode).toBe(401);
    } finally {
      await colon.close();
    }
  });

  it('several mechanisms at once: the hook first, then tokens, then basic auth; the challenge is Basic', async () => {
    await start({
      authenticate: (request) => (request.headers['x-user'] === 'root' ? { uid: 'ops', admin: true } : undefined),
      tokens: { [TOKENS.alice]: { uid: OWNER_UID } },
      basicAuth: { bob: { password: PASSWORDS.bob, uid: 2 } },
    });
    const a = await account();
    const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, OWNER_UID, 'deposit', 1);
    const url = `${P}/api/jobs/${job.id}`;
    const get = (headers: Headers) => app!.inject({ method: 'GET', url, headers });
    expect((await get({ 'x-user': 'root' })).statusCode).toBe(200);
    expect((await get(bearer(TOKENS.alice))).statusCode).toBe(200);
    expect((await get(basic('bob', PASSWORDS.bob))).statusCode).toBe(404);
    // The hook knows nobody: tokens still decide.
    expect((await get({ 'x-user': 'mallory', ...bearer(TOKENS.alice) })).statusCode).toBe(200);
    const none = await get({ 'x-user': 'mallory' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect((await app!.inject({ method: 'GET', url: `${P}/queues`, headers: { 'x-user': 'root' } })).statusCode).toBe(200);
    expect((await app!.inject({ method: 'GET', url: `${P}/queues`, headers: bearer(TOKENS.alice) })).statusCode).toBe(403);
  });

  it('an identity is admin only when admin is exactly true', async () => {
    await start({
      authenticate: (request) => {
        const v = request.headers['x-admin'];
        // Values a loose check would take for "admin".
        return { uid: 'someone', admin: (v === 'string' ? 'yes' : v === 'number' ? 1 : undefined) as unknown as boolean };
      },
    });
    const a = await account();
    const job = await DeferredType({ countdown: 60 })(a, h!.dataSource, OWNER_UID, 'deposit', 1);
    for (const v of ['string', 'number']) {
      expect((await app!.inject({ method: 'GET', url: `${P}/api/jobs/${job.id}`, headers: { 'x-admin': v } })).statusCode, v).toBe(404);
      expect((await app!.inject({ method: 'GET', url: `${P}/queues`, headers: { 'x-admin': v } })).statusCode, v).toBe(403);
    }
  });
});
