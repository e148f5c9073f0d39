/**
 * The upstream failed, answered too much, or did not answer in time. `statusCode` is what a
 * gateway answers for it: 502, or 503 when it was refused before any wait.
 */
export class UpstreamError extends Error {
  readonly code: string = 'UPSTREAM_FAILED';
  readonly statusCode: number = 502;
  override name = 'UpstreamError';
}

/** The request's one deadline (token, free connection and answer together) passed. */
export class UpstreamTimeoutError extends UpstreamError {
  override readonly code = 'UPSTREAM_TIMEOUT';
  override name = 'UpstreamTimeoutError';
  constructor(timeoutMs: number, stage: string) {
    super(`upstream metadata service did not answer within ${timeoutMs} ms (${stage})`);
  }
}

/** Refused before any wait: the queue is full; a retry a second later may get through. */
export class UpstreamBusyError extends UpstreamError {
  override readonly code = 'UPSTREAM_BUSY';
  override readonly statusCode = 503;
  override name = 'UpstreamBusyError';
  constructor(maxConcurrent: number, maxQueued: number) {
    super(`upstream metadata service busy: ${maxConcurrent} requests in flight and ${maxQueued} waiting`);
  }
}
