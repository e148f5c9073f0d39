/** Wall-clock time in milliseconds since the epoch. Injected everywhere so tests can drive time. */
export interface Clock {
  now(): number;
}

export interface Timer {
  cancel(): void;
}

/** Runs callbacks later. The real one uses unref'd timers; tests pass a fake they advance by hand. */
export interface Scheduler {
  schedule(delayMs: number, task: () => void): Timer;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemScheduler: Scheduler = {
  schedule(delayMs, task) {
    const handle = setTimeout(task, Math.max(0, delayMs));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};
