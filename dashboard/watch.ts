import { getJob, type JobSnapshot } from '../src/job/job.js';
import { isDone } from './view.js';

type Listener = (snapshot: JobSnapshot) => void;

interface Watched {
  listeners: Set<Listener>;
  /** The last snapshot, and its JSON to notice changes. */
  last?: JobSnapshot;
  lastText?: string;
  timer?: NodeJS.Timeout;
}

/**
 * Follows jobs for live streams: one read of Redis per job and interval, however many
 * clients watch it; each listener hears every change, and the last state of a finished job.
 */
export class JobWatcher {
  private readonly watched = new Map<string, Watched>();

  constructor(private readonly intervalMs: number) {}

  subscribe(id: string, listener: Listener): () => void {
    let w = this.watched.get(id);
    if (!w) {
      w = { listeners: new Set() };
      this.watched.set(id, w);
      this.schedule(id, w, 0);
    } else if (w.last) {
      listener(w.last);
    }
    w.listeners.add(listener);
    return () => {
      w!.listeners.delete(listener);
      if (w!.listeners.size === 0) this.stop(id, w!);
    };
  }

  private schedule(id: string, w: Watched, delay: number): void {
    w.timer = setTimeout(() => void this.poll(id, w), delay);
  }

  private async poll(id: string, w: Watched): Promise<void> {
    let snapshot: JobSnapshot;
    try {
      const job = await getJob(id);
      snapshot = job ? await job.snapshot() : { id, queue: 'default', state: 'unknown', percent: 0, attemptsMade: 0, attempts: 0 };
    } catch {
      // Redis hiccup: try again at the next tick rather than ending the stream.
      if (this.watched.get(id) === w) this.schedule(id, w, this.intervalMs);
      return;
    }
    if (this.watched.get(id) !== w) return;
    const text = JSON.stringify(snapshot);
    if (text !== w.lastText) {
      w.last = snapshot;
      w.lastText = text;
      for (const l of [...w.listeners]) l(snapshot);
    }
    if (isDone(snapshot.state)) this.stop(id, w);
    else this.schedule(id, w, this.intervalMs);
  }

  private stop(id: string, w: Watched): void {
    clearTimeout(w.timer);
    if (this.watched.get(id) === w) this.watched.delete(id);
  }

  /** Stops every watch (on server close). */
  close(): void {
    for (const [id, w] of this.watched) this.stop(id, w);
  }
}
