/**
 * How an attempt is stopped (cancel, timeout, shutdown). The worker races the method against it
 * with a plain callback: an AbortController and an 'abort' listener per job cost more CPU than
 * the rest of a short job's bookkeeping, so the method's AbortSignal is only made when it asks for
 * `currentJob().signal` (already aborted, when the attempt was).
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private reason: unknown;
  private stopped = false;
  /** Told once, on abort: the race of {@link untilAborted}. */
  onAbort: ((reason: unknown) => void) | undefined;

  get aborted(): boolean {
    return this.stopped;
  }

  /** Why the attempt was stopped (when {@link aborted}). */
  get why(): unknown {
    return this.reason;
  }

  abort(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /** The signal a method listens to, made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}

/**
 * Races the work against the attempt's abort, so a method that ignores its signal still ends the
 * attempt and rolls its transaction back.
 */
export function untilAborted<T>(work: Promise<T>, abort: AttemptAbort): Promise<T> {
  if (abort.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abort.why);
  }
  return new Promise<T>((resolve, reject) => {
    abort.onAbort = reject;
    work.then(resolve, reject);
  });
}
