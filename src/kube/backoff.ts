export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** Cap: the delay stops doubling here. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * Capped exponential delay for the retry after `failures` consecutive failures (0 = first retry),
 * with the upper half randomised: when the API server comes back, the agents on every node must
 * not reconnect in lockstep.
 */
export function backoffDelay(failures: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, failures), 30);
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** A Retry-After longer than this is taken as this: a broken header must not park the agent for hours. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The delay before the next attempt when the server answered with Retry-After (429 from API
 * Priority and Fairness, 503 from a server shedding load): at least what it asked, spread over up
 * to twice that so the agents it turned away together do not come back together, and never less
 * than the backoff, which keeps growing while the refusals go on. Without Retry-After, the backoff.
 */
export function retryDelay(
  failures: number,
  options: BackoffOptions,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const backoff = backoffDelay(failures, options, random);
  if (retryAfterMs === undefined) return backoff;
  const asked = Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_MS);
  return Math.max(backoff, Math.round(asked + asked * random()));
}
