import type { Clock, Scheduler, Timer } from '../../src/time/index.js';

interface Pending {
  at: number;
  seq: number;
  task: () => void;
  cancelled: boolean;
}

/**
 * A clock and scheduler that only move when the test says so. `advance` runs due tasks in time
 * order and lets promise callbacks settle between them, so async work triggered by a timer
 * (an STS call, a retry) completes before the next timer fires.
 */
export class FakeTime implements Clock, Scheduler {
  private current: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  schedule(delayMs: number, task: () => void): Timer {
    const entry: Pending = { at: this.current + Math.max(0, delayMs), seq: this.seq++, task, cancelled: false };
    this.pending.push(entry);
    return { cancel: () => { entry.cancelled = true; } };
  }

  /** When the earliest timer still waiting is due; undefined when none is. */
  get nextAt(): number | undefined {
    let next: number | undefined;
    for (const p of this.pending) if (!p.cancelled && (next === undefined || p.at < next)) next = p.at;
    return next;
  }

  /** Number of timers still waiting to fire. */
  get pendingTimers(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      this.pending = this.pending.filter((p) => !p.cancelled);
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending[0];
      if (!next || next.at > target) break;
      this.pending.shift();
      this.current = Math.max(this.current, next.at);
      next.task();
    }
    this.current = target;
    await settle();
  }
}

/** Lets queued promise callbacks (several hops deep) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
