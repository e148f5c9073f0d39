import type { Scheduler, Timer } from '../time/index.js';
import type { PodLookup } from './types.js';

interface Waiter {
  resolve(lookup: PodLookup): void;
  timer: Timer;
}

/**
 * Requests from IPs the watch has not delivered yet (a pod's first call can beat its watch
 * event). Each waits until the index is told the IP changed, or until its timeout; no polling.
 */
export class IpWaiters {
  private readonly waitersByIp = new Map<string, Set<Waiter>>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly lookup: (ip: string) => PodLookup,
  ) {}

  wait(ip: string, timeoutMs: number): Promise<PodLookup> {
    const now = this.lookup(ip);
    if (now.kind !== 'unknown' || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: this.scheduler.schedule(timeoutMs, () => this.settle(ip, waiter)),
      };
      let waiters = this.waitersByIp.get(ip);
      if (!waiters) this.waitersByIp.set(ip, (waiters = new Set()));
      waiters.add(waiter);
    });
  }

  /** The index changed these IPs: wake whoever waits for one that now has an answer. */
  changed(ips: Iterable<string>): void {
    for (const ip of ips) {
      const waiters = this.waitersByIp.get(ip);
      if (!waiters || this.lookup(ip).kind === 'unknown') continue;
      for (const waiter of [...waiters]) this.settle(ip, waiter);
    }
  }

  /** Answers everyone now with what is known (on shutdown, so no request hangs). */
  releaseAll(): void {
    for (const [ip, waiters] of [...this.waitersByIp]) {
      for (const waiter of [...waiters]) this.settle(ip, waiter);
    }
  }

  get size(): number {
    let count = 0;
    for (const waiters of this.waitersByIp.values()) count += waiters.size;
    return count;
  }

  private settle(ip: string, waiter: Waiter): void {
    const waiters = this.waitersByIp.get(ip);
    if (!waiters?.delete(waiter)) return;
    if (waiters.size === 0) this.waitersByIp.delete(ip);
    waiter.timer.cancel();
    waiter.resolve(this.lookup(ip));
  }
}
