import type { Clock, Scheduler } from '../time/index.js';

export interface HandoverOptions {
  /** Whether another process now listens where this agent serves (its successor, in an upgrade). */
  successorListens: () => boolean;
  /** How long to keep serving while no successor listens; 0: not at all. */
  timeoutMs: number;
  clock: Clock;
  scheduler: Scheduler;
}

export interface Handover {
  outcome: 'successor' | 'timeout';
  waitedMs: number;
}

/** How often the kernel's socket table is read while waiting: a successor's first answer is never later than this. */
const POLL_MS = 100;

/**
 * Keeps a stopping agent serving until its successor listens beside it (both bind the metadata
 * port with SO_REUSEPORT, and a successor binds only once it can answer), so no call from a pod
 * finds the port closed; without a successor (an uninstall, a node going away) it gives up after
 * `timeoutMs`.
 */
export function awaitSuccessor(options: HandoverOptions): Promise<Handover> {
  const { successorListens, timeoutMs, clock, scheduler } = options;
  const started = clock.now();
  return new Promise((resolve) => {
    const check = () => {
      const waitedMs = clock.now() - started;
      if (successorListens()) resolve({ outcome: 'successor', waitedMs });
      else if (waitedMs >= timeoutMs) resolve({ outcome: 'timeout', waitedMs });
      else scheduler.schedule(Math.min(POLL_MS, timeoutMs - waitedMs), check);
    };
    check();
  });
}
