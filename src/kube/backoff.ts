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
