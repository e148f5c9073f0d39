import http from 'node:http';
import { MAX_TOKEN_TTL_SECONDS, TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER } from '../imds-protocol/index.js';
import { systemScheduler, type Clock, type Scheduler } from '../time/index.js';
import { UpstreamError, UpstreamTimeoutError } from './errors.js';
import { createSlots } from './queue.js';

export interface UpstreamAnswer {
  status: number;
  body: string;
  contentType: string | undefined;
}

/**
 * The node's own instance metadata service, reached only for allowlisted paths. `get` either
 * answers (any status the upstream gave, including its own 401/404) or rejects with an
 * `UpstreamError` (errors.ts): `UpstreamBusyError` (too many requests waiting, refused at once)
 * or any other, `UpstreamTimeoutError` among them (the upstream failed or missed the deadline).
 */
export interface MetadataUpstream {
  get(path: string): Promise<UpstreamAnswer>;
  /** Whether the node's metadata service answers a GET without a token (IMDSv1), asked once at start-up. */
  posture(): Promise<NodeImdsPosture>;
}

/**
 * How the node's own metadata service answers a GET without a token: with data (IMDSv1 allowed:
 * while corridor's rules are missing, on a new node or after a reboot, a pod reaches the node's
 * role), with 401 (IMDSv2 required), or not at all.
 */
/** What the passthrough routes use of it. */
export type PassthroughUpstream = Pick<MetadataUpstream, 'get'>;

export type NodeImdsPosture = 'imdsv1-allowed' | 'imdsv2-required' | 'unknown';

export interface MetadataUpstreamOptions {
  baseUrl: string;
  /** Token expiry. */
  clock: Clock;
  /** One deadline per `get`, from the call to the answer: token, wait for a connection, request. */
  timeoutMs: number;
  /** Runs the deadlines; the real one unless a test drives them. */
  scheduler?: Scheduler;
  /** Upstream GETs at once (the token PUT has a connection of its own). */
  maxConcurrent?: number;
  /** GETs waiting for a connection; past it `get` rejects at once with UpstreamBusyError. */
  maxQueued?: number;
}

// The agent's own token is asked for the longest life IMDS gives.
const TOKEN_TTL_SECONDS = MAX_TOKEN_TTL_SECONDS;
const TOKEN_RENEW_BEFORE_MS = 60_000;
const MAX_BODY_BYTES = 64 * 1024;
// IMDS itself throttles per instance; a handful of connections answers every SDK on a node in
// milliseconds, and 16 waiting is a burst of pods starting together, not a queue that grows.
const DEFAULT_MAX_CONCURRENT = 4;
const DEFAULT_MAX_QUEUED = 16;
const IMDSV1_STATUSES = new Set([403, 404, 405]);

interface CachedToken {
  /** undefined: the upstream does not do IMDSv2; GETs go without a token. */
  value: string | undefined;
  expiresAt: number;
}

/**
 * Talks to the node's IMDS with the agent's own IMDSv2 token: one token shared by every request,
 * minted by one PUT however many ask at once, renewed a minute before it ends or once after a 401.
 * Identical concurrent GETs share one upstream request (the allowlisted answers are the same for
 * every pod). Nothing is cached but the token: an answer is never older than its request.
 */
export function createMetadataUpstream(options: MetadataUpstreamOptions): MetadataUpstream {
  const { clock, timeoutMs } = options;
  const scheduler = options.scheduler ?? systemScheduler;
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  // Our own limit decides who waits (with a deadline); the agent must never queue behind it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxConcurrent + 1 });
  const slots = createSlots(maxConcurrent, maxQueued);
  const inFlight = new Map<string, Promise<UpstreamAnswer>>();
  let token: CachedToken | undefined;
  let tokenRequest: Promise<CachedToken> | undefined;

  function request(method: string, path: string, headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const req = http.request(new URL(path, options.baseUrl), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) fail(new UpstreamError('upstream answer too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          signal.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'] });
        });
        res.on('error', (error) => fail(error));
      });
      function fail(error: Error): void {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof UpstreamError ? error : new UpstreamError(`upstream metadata request failed: ${error.message}`));
        req.destroy();
      }
      function onAbort(): void {
        fail(signal.reason as Error);
      }
      if (signal.aborted) return fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error) => fail(error));
      req.end();
    });
  }

  /** The cached token, or the one PUT every caller shares; that PUT has a deadline of its own. */
  function currentToken(): CachedToken | Promise<CachedToken> {
    if (token && token.expiresAt - TOKEN_RENEW_BEFORE_MS > clock.now()) return token;
    if (tokenRequest) return tokenRequest;
    const deadline = startDeadline('waiting for the token');
    const pending = request('PUT', TOKEN_PATH, { [TOKEN_TTL_HEADER]: String(TOKEN_TTL_SECONDS) }, deadline.signal)
      .then((answer) => {
        // An IMDS that does not do v2 (403/404/405) is used without a token, as the SDKs do.
        if (answer.status !== 200 && !IMDSV1_STATUSES.has(answer.status)) {
          throw new UpstreamError(`upstream token request answered ${answer.status}`);
        }
        token = { value: answer.status === 200 ? answer.body.trim() : undefined, expiresAt: clock.now() + TOKEN_TTL_SECONDS * 1000 };
        return token;
      })
      .finally(() => {
        deadline.cancel();
        tokenRequest = undefined;
      });
    tokenRequest = pending;
    return pending;
  }

  /**
   * A caller that joined a PUT started earlier may see it fail at that PUT's deadline with time
   * of its own left: it tries once more (all such callers share the new PUT).
   */
  async function tokenWithin(signal: AbortSignal): Promise<CachedToken> {
    const joined = tokenRequest !== undefined;
    try {
      return await untilAborted(currentToken(), signal);
    } catch (error) {
      if (!joined || signal.aborted) throw error;
      return untilAborted(currentToken(), signal);
    }
  }

  function startDeadline(stage: string): { signal: AbortSignal; cancel(): void; stage: string } {
    const controller = new AbortController();
    const deadline = {
      signal: controller.signal,
      stage,
      cancel: () => timer.cancel(),
    };
    const timer = scheduler.schedule(timeoutMs, () => controller.abort(new UpstreamTimeoutError(timeoutMs, deadline.stage)));
    return deadline;
  }

  function fetchOnce(path: string): Promise<UpstreamAnswer> {
    const slot = slots.take(); // throws UpstreamBusyError before anything waits
    const deadline = startDeadline('waiting for a free connection');
    return (async () => {
      try {
        await untilAborted(slot.granted, deadline.signal);
        deadline.stage = 'waiting for the token';
        const used = await tokenWithin(deadline.signal);
        deadline.stage = 'waiting for the answer';
        const answer = await request('GET', path, used.value === undefined ? {} : { [TOKEN_HEADER]: used.value }, deadline.signal);
        // Our token went stale (the upstream restarted): renew it once, not once per request that
        // carried it, and never throw away a newer one.
        if (answer.status === 401 && token === used) token = undefined;
        return answer;
      } finally {
        deadline.cancel();
        slot.release();
      }
    })();
  }

  return {
    get(path) {
      const shared = inFlight.get(path);
      // A later caller's deadline ends after the shared request's, so it needs no timer of its own.
      if (shared) return shared;
      let answer: Promise<UpstreamAnswer>;
      try {
        answer = fetchOnce(path);
      } catch (error) {
        return Promise.reject(error);
      }
      inFlight.set(path, answer);
      const forget = () => { if (inFlight.get(path) === answer) inFlight.delete(path); };
      answer.then(forget, forget);
      return answer;
    },

    async posture() {
      const deadline = startDeadline('waiting for the answer to a GET without a token');
      try {
        const answer = await request('GET', '/latest/meta-data/', {}, deadline.signal);
        return answer.status === 200 ? 'imdsv1-allowed' : answer.status === 401 ? 'imdsv2-required' : 'unknown';
      } catch {
        return 'unknown';
      } finally {
        deadline.cancel();
      }
    },
  };
}

/** `value`, unless the signal aborts first; the work behind `value` goes on for whoever else waits. */
function untilAborted<T>(value: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  if (!(value instanceof Promise)) return Promise.resolve(value);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    value.then(
      (result) => { signal.removeEventListener('abort', onAbort); resolve(result); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}
