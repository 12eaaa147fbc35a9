/** One progress report, as `reportProgress()` takes it. */
export interface ProgressReport {
  /** Shown in the job log and by `progress()`. */
  message?: string;
  /** Where the work is, between `valuemin` and `valuemax`. */
  progress?: number;
  /** @defaultValue `0` */
  valuemin?: number;
  /** @defaultValue `100` */
  valuemax?: number;
}

/** The latest progress of a job. */
export interface ProgressState {
  /** 0 to 100; it never goes down during one attempt. */
  percent: number;
  message?: string;
}

/** Where a reporter writes: a BullMQ job satisfies it. */
export interface ProgressSink {
  updateProgress(percent: number): Promise<void>;
  log(line: string): Promise<unknown>;
}

/** Runs one write; a sink that throws or rejects (Redis down) only loses that write. */
async function quietly(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch {
    // The job goes on; the next write carries the latest state anyway.
  }
}

/**
 * Turns reports into a percentage that only grows, and writes it to Redis at
 * most once per `intervalMs` so a tight loop cannot flood Redis; `flush()`
 * always writes the latest state.
 */
export class ProgressReporter {
  private state: ProgressState = { percent: 0 };
  private written: ProgressState = { percent: 0 };
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Writes chained and not yet landed: a job that reported nothing has none, and its flush() costs nothing. */
  private pending = 0;

  constructor(private readonly sink: ProgressSink, private readonly intervalMs = 200) {}

  /** The state as reported so far (written or not). */
  get current(): ProgressState {
    return { ...this.state };
  }

  report({ message, progress, valuemin = 0, valuemax = 100 }: ProgressReport): void {
    if (progress !== undefined && Number.isFinite(progress) && valuemax > valuemin) {
      const pct = Math.min(100, Math.max(0, ((progress - valuemin) / (valuemax - valuemin)) * 100));
      this.state.percent = Math.max(this.state.percent, Math.round(pct * 100) / 100);
    }
    if (message !== undefined) this.state.message = String(message);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = this.lastWrite + this.intervalMs - Date.now();
    if (wait <= 0) this.write();
    else this.timer = setTimeout(() => this.write(), wait);
  }

  private write(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastWrite = Date.now();
    const next = { ...this.state };
    const prev = this.written;
    this.written = next;
    // Writes are chained so they land in order; a failed write must neither fail the job nor skip the next one.
    this.pending++;
    this.chain = this.chain.then(async () => {
      if (next.message !== undefined && next.message !== prev.message) await quietly(() => this.sink.log(next.message!));
      if (next.percent !== prev.percent) await quietly(() => this.sink.updateProgress(next.percent));
      this.pending--;
    });
  }

  /** Writes the latest state now; the promise of every write landing, or undefined when none is under way. */
  flush(): Promise<void> | undefined {
    if (this.state.percent !== this.written.percent || this.state.message !== this.written.message) this.write();
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.pending > 0 ? this.chain : undefined;
  }
}
