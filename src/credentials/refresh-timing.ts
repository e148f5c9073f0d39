/**
 * When a session renews: the defaults of the three durations that decide it, the refresh time
 * (refresh-before ahead of expiry, up to 10% earlier) and the retry policy after a failed call.
 * All times in ms.
 */

/**
 * Defaults of --session-duration, --refresh-before and --min-remaining, spelled as the flags take
 * them. A 1 h session renews after about 15 min, and an STS outage of about 20 min costs nothing.
 */
export const DEFAULT_SESSION_DURATION = '1h';
export const DEFAULT_REFRESH_BEFORE = '45m';
export const DEFAULT_MIN_REMAINING = '25m';

/**
 * The lowest --min-remaining that is safe for every SDK: botocore (boto3, the awscli) treats
 * instance-metadata credentials with less than 10 min plus 2 to 10 min of jitter left as an
 * outage and stretches their expiry past the real one (utils.py, `_evaluate_expiration`), so it
 * signs with expired keys below 20 min. Lower values need --allow-unsafe-min-remaining.
 */
export const MIN_REMAINING_FLOOR = '20m';

/** Refresh starts up to this fraction of refresh-before earlier, so sessions assumed together do not renew together. */
const REFRESH_JITTER = 0.1;

/** When a session expiring at `expiration` starts renewing; `random` is in [0, 1). */
export function refreshTime(expiration: number, refreshBeforeMs: number, random: () => number): number {
  return expiration - refreshBeforeMs - random() * REFRESH_JITTER * refreshBeforeMs;
}

/** How often, and how soon, a key whose STS call failed is tried again. All in ms. */
export interface RetryPolicy {
  /** First retry delay, and the lower bound of every jittered delay. */
  baseMs: number;
  /** Upper bound of the backoff: several attempts fit between refresh start and the min-remaining floor. */
  capMs: number;
  /** Delay after a non-retryable error (AccessDenied, ValidationError...). */
  slowMs: number;
}

/**
 * How long a pod's request that finds no session waits while throttled STS calls are retried:
 * what SDKs give the metadata service before they give up on it (botocore and the JavaScript
 * SDK time out after 1 s).
 */
export const REQUEST_WAIT_MS = 1_000;

/**
 * Retries within that wait: the AWS SDKs' standard base of 100 ms, decorrelated jitter, at most
 * 400 ms apart, so three to six calls fit in a second and a key makes at most one every 100 ms.
 */
export const REQUEST_RETRY: RetryPolicy = { baseMs: 100, capMs: 400, slowMs: 400 };

/**
 * A key with nothing to serve (a new pod's, or one whose session fell below min-remaining) retries
 * throttled calls this many times on REQUEST_RETRY's delays before its normal backoff: about 3 s,
 * so a pod scheduled while STS throttles part of the calls finds a session when it first asks.
 */
export const QUICK_RETRIES = 8;

const ATTEMPTS_IN_WINDOW = 5;
const MAX_BASE_MS = 2_000;
const MAX_SLOW_MS = 5 * 60_000;

/**
 * Sized from the refresh window (refresh-before minus min-remaining): with every delay at most
 * window/5, at least five attempts start before a session falls below min-remaining, whatever
 * the jitter draws. Defaults (45m, 25m): base 2 s, cap 4 min, slow 4 min.
 */
export function retryPolicy(refreshBeforeMs: number, minRemainingMs: number): RetryPolicy {
  const capMs = Math.max(1_000, Math.floor((refreshBeforeMs - minRemainingMs) / ATTEMPTS_IN_WINDOW));
  return { baseMs: Math.min(MAX_BASE_MS, capMs), capMs, slowMs: Math.min(MAX_SLOW_MS, capMs) };
}

/**
 * "Decorrelated jitter" (AWS Architecture Blog, Exponential Backoff and Jitter): the next delay
 * is drawn between base and three times the previous one, capped. Grows like exponential
 * backoff, spreads keys that failed together, and never drops below base.
 */
export function nextRetryDelay(policy: RetryPolicy, previousMs: number | undefined, random: () => number): number {
  const upper = Math.max(policy.baseMs, 3 * (previousMs ?? policy.baseMs));
  return Math.min(policy.capMs, Math.round(policy.baseMs + random() * (upper - policy.baseMs)));
}

/** The slow retry after a non-retryable error, up to 10% earlier so denied keys do not retry in lockstep. */
export function slowRetryDelay(policy: RetryPolicy, random: () => number): number {
  return Math.round(policy.slowMs * (1 - 0.1 * random()));
}
