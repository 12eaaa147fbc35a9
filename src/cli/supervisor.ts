import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../observe/logger.js';

/** One child process the supervisor keeps running: a `deferred worker` with its arguments. */
export interface ChildPlan {
  /** Shown in the log records, e.g. `default#2`. */
  label: string;
  args: string[];
}

/** How the supervisor restarts children and stops them. */
export interface SupervisorOptions {
  /** The first restart's delay; it doubles after each quick exit, up to 30 s. */
  restartDelayMs: number;
  /** An exit this soon after its start is a quick one. */
  quickExitMs: number;
  /** Quick exits in a row after which a child is held back (not restarted until SIGHUP). */
  maxQuickExits: number;
  /** How long children get after SIGTERM before they are killed (their own grace period, plus a margin). */
  stopTimeoutMs: number;
}

interface Slot {
  plan: ChildPlan;
  child?: ChildProcess;
  startedAt: number;
  quickExits: number;
  delayMs: number;
  timer?: NodeJS.Timeout;
  held: boolean;
  exited?: Promise<void>;
}

const MAX_RESTART_DELAY_MS = 30_000;

/**
 * Runs one child process per plan and keeps them running: a child that exits is restarted after a
 * delay that grows while it keeps dying quickly; one that dies quickly `maxQuickExits` times in a
 * row is held back and reported. `stop()` sends SIGTERM to every child and waits; `rollingRestart()`
 * replaces them one at a time, each stopped gracefully (its active jobs finish) before its
 * successor starts. Every start, exit and restart is logged.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;

  constructor(private readonly command: string[], plans: ChildPlan[], private readonly o: SupervisorOptions, private readonly logger: Logger) {
    this.slots = plans.map((plan) => ({ plan, startedAt: 0, quickExits: 0, delayMs: o.restartDelayMs, held: false }));
  }

  start(): void {
    for (const slot of this.slots) this.spawn(slot);
  }

  /** The pids of the running children, by label. */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.slots.map((s) => [s.plan.label, s.child?.pid]));
  }

  private spawn(slot: Slot): void {
    const [executable, ...base] = this.command;
    // Its own process group: Ctrl-C in a terminal reaches the supervisor alone, which then stops each
    // child once (a second signal during a child's shutdown would kill it mid-job). The IPC channel
    // tells a child that its supervisor is gone, even by SIGKILL: it then stops as on SIGTERM.
    const child = spawn(executable!, [...base, ...slot.plan.args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, env: { ...process.env, DEFERRED_WORKER_SLOT: slot.plan.label },
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.exited(slot, child, code, signal);
      resolve();
    }));
    child.once('error', (err) => this.logger.error({ child: slot.plan.label, err }, 'child could not start'));
    this.logger.info({ child: slot.plan.label, childPid: child.pid, args: slot.plan.args }, 'child started');
  }

  private exited(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child === child) slot.child = undefined;
    const uptimeMs = Date.now() - slot.startedAt;
    const fields = { child: slot.plan.label, childPid: child.pid, code, signal, uptimeMs };
    if (this.stopping || slot.held) {
      this.logger.info(fields, 'child exited');
      return;
    }
    if (uptimeMs < this.o.quickExitMs) slot.quickExits++;
    else {
      slot.quickExits = 0;
      slot.delayMs = this.o.restartDelayMs;
    }
    if (slot.quickExits >= this.o.maxQuickExits) {
      slot.held = true;
      this.logger.error({ ...fields, quickExits: slot.quickExits }, 'child keeps dying right after it starts: held back, not restarted until SIGHUP');
      return;
    }
    const delayMs = slot.quickExits > 0 ? slot.delayMs : this.o.restartDelayMs;
    if (slot.quickExits > 0) slot.delayMs = Math.min(slot.delayMs * 2, MAX_RESTART_DELAY_MS);
    this.logger.warn({ ...fields, restartInMs: delayMs }, 'child exited; restarting it');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.stopping) this.spawn(slot);
    }, delayMs);
  }

  /** SIGTERM to one child, SIGKILL after the stop timeout; resolves whether it had to be killed. */
  private async stopChild(slot: Slot): Promise<boolean> {
    const { child, exited } = slot;
    if (!child || !exited) return false;
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.logger.error({ child: slot.plan.label, childPid: child.pid, afterMs: this.o.stopTimeoutMs }, 'child did not stop in time: killed');
      child.kill('SIGKILL');
    }, this.o.stopTimeoutMs);
    await exited;
    clearTimeout(timer);
    return killed;
  }

  /** Stops every child (SIGTERM, then SIGKILL past the timeout); resolves the exit code: 0, or 1 if one had to be killed. */
  async stop(): Promise<number> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.timer);
    const killed = await Promise.all(this.slots.map((slot) => this.stopChild(slot)));
    return killed.some(Boolean) ? 1 : 0;
  }

  /** Replaces the children one at a time; a held-back child is started again. */
  async rollingRestart(): Promise<void> {
    this.logger.info({ children: this.slots.length }, 'rolling restart');
    for (const slot of this.slots) {
      if (this.stopping) return;
      clearTimeout(slot.timer);
      slot.timer = undefined;
      const wasHeld = slot.held;
      // Held while it stops, so that its exit is not taken for a crash.
      slot.held = true;
      await this.stopChild(slot);
      slot.held = false;
      slot.quickExits = 0;
      slot.delayMs = this.o.restartDelayMs;
      if (this.stopping) return;
      this.spawn(slot);
      if (wasHeld) this.logger.info({ child: slot.plan.label }, 'held-back child started again');
    }
    this.logger.info({ pids: this.pids() }, 'rolling restart done');
  }
}
