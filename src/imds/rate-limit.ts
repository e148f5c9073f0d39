import type { Clock } from '../time/index.js';

/** Per-caller token buckets: one runaway pod cannot starve the others on its node. */
export interface RateLimiter {
  /** Takes one token for this caller; false when its bucket is empty. */
  take(ip: string): boolean;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

// More callers than pods can exist on a node (scanners, churn): old buckets are forgotten, which
// only ever hands a caller a full bucket again.
const MAX_TRACKED_CALLERS = 4096;

export function createRateLimiter(options: { perSecond: number; burst: number; clock: Clock }): RateLimiter {
  const { perSecond, burst, clock } = options;
  const buckets = new Map<string, Bucket>();
  return {
    take(ip) {
      const now = clock.now();
      let bucket = buckets.get(ip);
      if (bucket === undefined) {
        if (buckets.size >= MAX_TRACKED_CALLERS) buckets.delete(buckets.keys().next().value as string);
        bucket = { tokens: burst, updatedAt: now };
        buckets.set(ip, bucket);
      } else {
        bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) * perSecond) / 1000);
        bucket.updatedAt = now;
      }
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
