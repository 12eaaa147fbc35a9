import { Redis, type RedisOptions } from 'ioredis';

export { PROBE, SQL_KINDS, sqlKind, StatementCounter, type SqlKind, type Statement } from '../bench/statement-counter.js';
import type { SqlKind, Statement } from '../bench/statement-counter.js';

/** Statements per job, by kind; `commits` counts COMMITs and autocommit writes (one WAL flush each). */
export interface SqlCost {
  total: number;
  commits: number;
  byKind: Partial<Record<SqlKind, number>>;
  /** One job's statements in order, e.g. `UPDATE(auto), BEGIN, SELECT FOR UPDATE, …`. */
  sequence: string;
}

const label = (s: Statement) => (s.autocommit ? `${s.kind}(auto)` : s.kind);

/** Divides what `jobs` jobs sent into a per-job cost (the sequence is the first job's, when they ran one after another). */
export function perJobSql(statements: Statement[], jobs: number): SqlCost {
  const byKind: Partial<Record<SqlKind, number>> = {};
  for (const s of statements) byKind[s.kind] = (byKind[s.kind] ?? 0) + 1 / jobs;
  const commits = statements.filter((s) => s.kind === 'COMMIT' || s.autocommit).length / jobs;
  return { total: statements.length / jobs, commits, byKind, sequence: statements.slice(0, Math.round(statements.length / jobs)).map(label).join(', ') };
}

export type RedisRole = 'producer' | 'worker';

/**
 * Redis commands sent by one role's clients: by name (EVALSHA by BullMQ script name), by queue (from
 * the first `prefix:queue:…` key; `-` for none), and round trips (a pipeline is one).
 */
export interface RedisTally {
  commands: number;
  roundTrips: number;
  byName: Record<string, number>;
  byQueue: Record<string, number>;
}

const emptyTally = (): RedisTally => ({ commands: 0, roundTrips: 0, byName: {}, byQueue: {} });

/** The queue a command is about, from its first BullMQ key (`prefix:queue:suffix`). */
function queueOf(args: unknown[]): string {
  for (const arg of args) {
    const m = typeof arg === 'string' ? /^[^:\s]+:([^:\s]+):/.exec(arg) : null;
    if (m) return m[1]!;
  }
  return '-';
}

interface SentCommand {
  name: string;
  args: unknown[];
}

/**
 * Counts the commands sent by the ioredis clients a test creates through it (and their duplicates,
 * which BullMQ opens for blocking reads and the cancel listener opens for its subscription), by
 * wrapping ioredis' `sendCommand` and `duplicate` for this process. Other clients are not counted.
 */
export class RedisCommandCounter {
  private readonly roles = new WeakMap<Redis, RedisRole>();
  private readonly seen = new WeakSet<object>();
  private readonly seenStreams = new WeakSet<object>();
  private readonly scriptNames = new Map<string, string>();
  private tallies: Record<RedisRole, RedisTally> = { producer: emptyTally(), worker: emptyTally() };
  private restore: (() => void) | undefined;

  install(): void {
    const proto = Redis.prototype as unknown as {
      sendCommand(this: Redis, command: SentCommand, stream?: { isPipeline?: boolean }): unknown;
      duplicate(this: Redis, override?: Partial<RedisOptions>): Redis;
    };
    const { sendCommand, duplicate } = proto;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const counter = this;
    proto.sendCommand = function (command, stream) {
      counter.count(this, command, stream);
      return sendCommand.call(this, command, stream);
    };
    proto.duplicate = function (override) {
      const copy = duplicate.call(this, override);
      const role = counter.roles.get(this);
      if (role) counter.roles.set(copy, role);
      return copy;
    };
    this.restore = () => {
      proto.sendCommand = sendCommand;
      proto.duplicate = duplicate;
    };
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
  }

  /** A new client whose commands (and its duplicates') count for `role`. */
  client(url: string, role: RedisRole, options: RedisOptions = {}): Redis {
    const client = new Redis(url, options);
    client.on('error', () => undefined);
    this.roles.set(client, role);
    return client;
  }

  /** What `role` sent since the last take(), without resetting it. */
  peek(role: RedisRole): RedisTally {
    return this.tallies[role];
  }

  /** What `role` sent since the last call. */
  take(role: RedisRole): RedisTally {
    const taken = this.tallies[role];
    this.tallies[role] = emptyTally();
    return taken;
  }

  private count(client: Redis, command: SentCommand, stream?: { isPipeline?: boolean }): void {
    const role = this.roles.get(client);
    // ioredis may pass one command through sendCommand again (offline queue, resend): count it once.
    if (!role || this.seen.has(command)) return;
    this.seen.add(command);
    const tally = this.tallies[role];
    tally.commands++;
    if (!stream?.isPipeline) tally.roundTrips++;
    else if (!this.seenStreams.has(stream)) {
      this.seenStreams.add(stream);
      tally.roundTrips++;
    }
    const name = this.nameOf(client, command);
    tally.byName[name] = (tally.byName[name] ?? 0) + 1;
    const queue = queueOf(command.args);
    tally.byQueue[queue] = (tally.byQueue[queue] ?? 0) + 1;
  }

  /** `EVALSHA addStandardJob` rather than a hash: BullMQ's scripts are defined on each client by name. */
  private nameOf(client: Redis, command: SentCommand): string {
    const name = command.name.toUpperCase();
    if (name !== 'EVALSHA' && name !== 'EVAL') return name;
    const sha = String(command.args[0]);
    if (!this.scriptNames.has(sha)) {
      const scripts = (client as unknown as { scriptsSet: Record<string, { sha: string }> }).scriptsSet ?? {};
      const found = Object.entries(scripts).find(([, s]) => s.sha === sha)?.[0];
      if (found) this.scriptNames.set(sha, found.replace(/:[\d.]+$/, ''));
    }
    return `${name} ${this.scriptNames.get(sha) ?? sha.slice(0, 8)}`;
  }
}

/** Per-job averages of a tally, over `jobs` jobs. */
export function perJobRedis(tally: RedisTally, jobs: number): RedisTally {
  const per = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / jobs]));
  return { commands: tally.commands / jobs, roundTrips: tally.roundTrips / jobs, byName: per(tally.byName), byQueue: per(tally.byQueue) };
}
