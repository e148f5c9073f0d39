// Hand-written rather than built on lru-cache's fetch(), which would give the coalescing of
// concurrent misses but not the two things this cache is for. A timer per key: each session is
// renewed refresh-before ahead of its own expiry, with jitter, through the injected Scheduler,
// and a failing key retries on its own backoff; lru-cache's TTL only drops an entry or, with
// allowStale, refetches it when someone reads it stale. A failure kept per key (code, message,
// next attempt) that status(), metrics and explain show and that makes requests fail fast
// without calling STS; a rejected fetch() leaves nothing behind, so the next request would call
// STS again. Sessions leave by retain() (no pod on the node uses them), not by LRU order.
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';
import { nextRetryDelay, QUICK_RETRIES, refreshTime, REQUEST_RETRY, REQUEST_WAIT_MS, retryPolicy, slowRetryDelay } from './refresh-timing.js';
import { podSessionName, roleSessionName } from './session-name.js';
import { CredentialsUnavailableError, type CredentialSource, type KeyFailure, type KeyStatus } from './source.js';
import { isAccessDenied, isTokenRequestCode, STS_CODE } from './sts-codes.js';
import { toAssumeRoleError } from './sts-errors.js';
import { AssumeRoleError, type AssumeRequest, type RoleAssumer, type Session, type SessionKey, type StsResult } from './types.js';

export interface SessionCacheOptions {
  assumer: RoleAssumer;
  clock: Clock;
  scheduler: Scheduler;
  /** [0, 1); jitter for refresh and retry times. Default Math.random. */
  random?: () => number;
  nodeName: string;
  sessionDurationMs: number;
  refreshBeforeMs: number;
  minRemainingMs: number;
  /** Tag sessions with kubernetes-namespace and kubernetes-node (needs sts:TagSession). */
  sessionTags: boolean;
  metrics: Metrics;
  logger: Logger;
}

export interface SessionCache extends CredentialSource {
  /** Stops every refresh and retry timer; cached sessions stay readable. */
  close(): void;
}

type Trigger = 'miss' | 'prefetch' | 'refresh' | 'retry';

interface Entry {
  readonly id: string;
  readonly key: Readonly<SessionKey>;
  readonly request: AssumeRequest;
  session: Session | undefined;
  inflight: Promise<Session> | undefined;
  /** The one pending refresh or retry for this key. */
  timer: Timer | undefined;
  failure: KeyFailure | undefined;
  /** Whether the error in `failure` was retryable (KeyFailure does not carry it). */
  failureRetryable: boolean;
  /** Last retry delay, the seed of the next jittered one; reset by a success. */
  retryDelayMs: number | undefined;
  /** Throttled calls retried on the short delays since the last success (QUICK_RETRIES). */
  quickRetries: number;
  /** When the last STS call for this key finished. */
  lastAttemptEndedAt: number | undefined;
  /** Requests waiting on a miss while throttled calls are retried (see waitForSession); they share it. */
  waiting: Promise<Session> | undefined;
  /** Called when this key's call in flight ends, or the key is dropped or the cache closed. */
  settled: Array<() => void>;
  /** When requests last gave up waiting on this key (every retry within their wait throttled). */
  waitEndedAt: number | undefined;
}

/**
 * The credential cache: one session per (role ARN, namespace, external id, session policy, policy
 * ARNs), and per pod when the key names one (`--session-scope=pod`), assumed on a miss or a
 * prefetch, renewed by a timer `refresh-before` (minus up to 10% jitter) ahead of expiry, and
 * served only while it has at least `min-remaining` left.
 *
 * After a failed STS call the key is retried on a timer: retryable errors with capped,
 * decorrelated-jitter backoff (see refresh-timing.ts), non-retryable ones every `slowMs`. While
 * a session with min-remaining left exists it is served and requests never call STS. A `get`
 * for a key with nothing servable after a failure:
 * - after AccessDenied-like (non-retryable) errors or a failed TokenRequest (web-identity mode:
 *   retried with backoff, but a polling pod never drives the API server), fails at once with the
 *   kept error code, without calling STS, until the key's next scheduled attempt (which runs in
 *   the background; a `get` during it joins it);
 * - after other retryable errors (5xx, timeouts, network), may itself start an attempt once
 *   `baseMs` (2 s) has passed since the last one ended, so a key recovers as soon as STS does
 *   instead of waiting out a backoff of minutes; earlier `get`s fail at once.
 * - Throttling is a share of calls refused, not an outage. A key with nothing to serve retries a
 *   throttled call within 100-400 ms, QUICK_RETRIES (8) times, before its usual backoff, so a new
 *   pod's prefetch has a session by the pod's first request; and while requests wait on it. A
 *   `get` waits up to REQUEST_WAIT_MS (1 s) for those retries, so a pod is refused only when every
 *   call in its wait was throttled. Requests for one key share one wait; once one has given up,
 *   requests fail at once for `baseMs`, so a key whose pods keep asking costs at most about six
 *   calls every three seconds while STS throttles everything.
 * So a denied role costs one STS call per scheduled attempt, not one per pod request.
 *
 * A session STS grants with less than min-remaining left (the role's MaxSessionDuration is
 * shorter than asked, or the node's clock is skewed) is a failure of its own, `SessionTooShort`:
 * never cached or served, and treated like AccessDenied (retried every `slowMs`, requests fail at
 * once in between), because asking again in seconds gets the same short session, and serving it
 * would make SDKs treat credentials near expiry as an outage.
 */
export function createSessionCache(options: SessionCacheOptions): SessionCache {
  const { assumer, clock, scheduler, metrics, nodeName, minRemainingMs, refreshBeforeMs } = options;
  const random = options.random ?? Math.random;
  const logger = options.logger.child({ component: 'credentials' });
  const policy = retryPolicy(refreshBeforeMs, minRemainingMs);
  const durationSeconds = Math.round(options.sessionDurationMs / 1000);
  const entries = new Map<string, Entry>();
  // Callers keep their key objects (one per pod decision), so the hot path builds each key's
  // string once instead of per request.
  const keyIds = new WeakMap<SessionKey, string>();
  // peek() is on every credential request: handles make the count a plain addition.
  const cacheHit = metrics.handle(metrics.credentialCache, { result: 'hit' });
  const cacheMiss = metrics.handle(metrics.credentialCache, { result: 'miss' });
  const cacheCoalesced = metrics.handle(metrics.credentialCache, { result: 'coalesced' });
  let closed = false;

  function idOf(key: SessionKey): string {
    let id = keyIds.get(key);
    if (id === undefined) {
      // Neither an ARN, a namespace, an external id, a pod uid, a ServiceAccount name nor compact
      // JSON contains a raw newline, and policy ARNs contain no space, so the join is unambiguous.
      id =
        `${key.roleArn}\n${key.namespace}\n${key.externalId ?? ''}\n${key.pod?.uid ?? ''}\n${key.serviceAccount ?? ''}\n` +
        `${key.sessionPolicy ?? ''}\n${key.policyArns?.join(' ') ?? ''}`;
      keyIds.set(key, id);
    }
    return id;
  }

  function servable(entry: Entry | undefined, now: number): Session | undefined {
    const session = entry?.session;
    return session !== undefined && session.expiration - now >= minRemainingMs ? session : undefined;
  }

  function entryFor(key: SessionKey, id: string): Entry {
    let entry = entries.get(id);
    if (entry === undefined) {
      const copy: SessionKey = {
        roleArn: key.roleArn,
        namespace: key.namespace,
        ...(key.externalId ? { externalId: key.externalId } : {}),
        ...(key.sessionPolicy ? { sessionPolicy: key.sessionPolicy } : {}),
        ...(key.policyArns?.length ? { policyArns: Object.freeze([...key.policyArns]) } : {}),
        ...(key.pod ? { pod: { uid: key.pod.uid, name: key.pod.name } } : {}),
        ...(key.serviceAccount ? { serviceAccount: key.serviceAccount } : {}),
      };
      entry = {
        id,
        key: copy,
        request: assumeRequest(copy),
        session: undefined,
        inflight: undefined,
        timer: undefined,
        failure: undefined,
        failureRetryable: true,
        retryDelayMs: undefined,
        quickRetries: 0,
        lastAttemptEndedAt: undefined,
        waiting: undefined,
        settled: [],
        waitEndedAt: undefined,
      };
      entries.set(id, entry);
    }
    return entry;
  }

  function assumeRequest(key: SessionKey): AssumeRequest {
    return {
      roleArn: key.roleArn,
      roleSessionName: key.pod ? podSessionName(key.namespace, key.pod.name) : roleSessionName(key.namespace, nodeName),
      durationSeconds,
      ...(key.externalId ? { externalId: key.externalId } : {}),
      ...(key.sessionPolicy ? { policy: key.sessionPolicy } : {}),
      ...(key.policyArns?.length ? { policyArns: key.policyArns } : {}),
      ...(options.sessionTags ? { tags: sessionTags(key) } : {}),
      ...(key.serviceAccount ? { serviceAccount: { namespace: key.namespace, name: key.serviceAccount, ...(key.pod ? { pod: key.pod } : {}) } } : {}),
    };
  }

  function sessionTags(key: SessionKey): Record<string, string> {
    return { 'kubernetes-namespace': key.namespace, 'kubernetes-node': nodeName, ...(key.pod ? { 'kubernetes-pod': key.pod.name } : {}) };
  }

  /** True while a prefetch for this key must not call STS: the key's own retry schedule decides. */
  function heldBack(entry: Entry, now: number): boolean {
    const failure = entry.failure;
    if (failure === undefined) return false;
    if (!entry.failureRetryable || failure.code === STS_CODE.THROTTLING || isTokenRequestCode(failure.code)) {
      return failure.nextAttemptAt !== undefined && now < failure.nextAttemptAt;
    }
    return entry.lastAttemptEndedAt !== undefined && now - entry.lastAttemptEndedAt < policy.baseMs;
  }

  /** True while requests for this key must fail at once instead of calling STS (see the rule above). */
  function requestHeldBack(entry: Entry, now: number): boolean {
    if (entry.failure?.code !== STS_CODE.THROTTLING) return heldBack(entry, now);
    return entry.waitEndedAt !== undefined && now - entry.waitEndedAt < policy.baseMs;
  }

  /**
   * A request's miss: one attempt (or the one in flight), and while STS answers Throttling, the
   * key's own retries, due 100-400 ms apart while requests wait (see failed), until REQUEST_WAIT_MS
   * has passed. Requests start no calls of their own after the first, so the key's schedule stays
   * the only source of calls; every call counts and logs as any other.
   */
  function waitForSession(entry: Entry): Promise<Session> {
    const deadline = clock.now() + REQUEST_WAIT_MS;
    const current = () => !closed && entries.get(entry.id) === entry;
    const waiting = (async () => {
      let last: unknown;
      try {
        return await attempt(entry, 'miss');
      } catch (error) {
        last = error;
      }
      for (;;) {
        const next = entry.failure?.nextAttemptAt;
        const throttled = last instanceof CredentialsUnavailableError && last.code === STS_CODE.THROTTLING;
        if (!throttled || next === undefined || next > deadline || !current()) throw last;
        await new Promise<void>((wake) => entry.settled.push(wake));
        const session = servable(entry, clock.now());
        if (session !== undefined) return session;
        if (entry.failure === undefined || !current()) throw last;
        last = unavailable(entry.failure);
      }
    })();
    entry.waiting = waiting;
    waiting.then(
      () => {
        entry.waiting = undefined;
      },
      () => {
        entry.waiting = undefined;
        entry.waitEndedAt = clock.now();
      },
    );
    return waiting;
  }

  function wakeWaiters(entry: Entry): void {
    for (const wake of entry.settled.splice(0)) wake();
  }

  function sessionTooShort(remainingMs: number): AssumeRoleError {
    const granted = Math.floor(remainingMs / 1000);
    const floor = Math.round(minRemainingMs / 1000);
    return new AssumeRoleError(
      `STS granted a session with ${granted} s left (asked for ${durationSeconds} s), less than --min-remaining (${floor} s), so it is not served: ` +
        `raise the role's MaxSessionDuration, lower --session-duration / --min-remaining to fit it, or fix the node's clock`,
      STS_CODE.SESSION_TOO_SHORT,
      false,
    );
  }

  function unavailable(failure: KeyFailure): CredentialsUnavailableError {
    const cause =
      failure.code === STS_CODE.SESSION_TOO_SHORT
        ? 'STS granted a session shorter than min-remaining'
        : isTokenRequestCode(failure.code)
          ? `the pod's ServiceAccount token could not be had (${failure.code})`
          : `STS AssumeRole failed (${failure.code})`;
    return new CredentialsUnavailableError(`${cause} and no session with enough lifetime left is cached`, failure.code);
  }

  function attempt(entry: Entry, trigger: Trigger): Promise<Session> {
    if (entry.inflight !== undefined) return entry.inflight;
    entry.timer?.cancel();
    entry.timer = undefined;
    const startedAt = clock.now();
    let call: Promise<Session>;
    try {
      call = assumer.assume(entry.request);
    } catch (error) {
      call = Promise.reject(error);
    }
    const inflight = call.then(
      (session) => {
        entry.inflight = undefined;
        queueMicrotask(() => wakeWaiters(entry));
        const remainingMs = session.expiration - clock.now();
        if (remainingMs < minRemainingMs) {
          const details = { grantedSeconds: Math.floor(remainingMs / 1000), minRemainingSeconds: Math.round(minRemainingMs / 1000) };
          throw unavailable(failed(entry, sessionTooShort(remainingMs), trigger, startedAt, details));
        }
        succeeded(entry, session, trigger, startedAt);
        return session;
      },
      (error: unknown) => {
        entry.inflight = undefined;
        queueMicrotask(() => wakeWaiters(entry));
        throw unavailable(failed(entry, toAssumeRoleError(error), trigger, startedAt));
      },
    );
    entry.inflight = inflight;
    return inflight;
  }

  function succeeded(entry: Entry, session: Session, trigger: Trigger, startedAt: number): void {
    const now = clock.now();
    metrics.stsCalls.labels({ result: 'success' }).inc();
    metrics.stsCallDuration.observe((now - startedAt) / 1000);
    logger.info(
      { ...keyFields(entry.key), result: 'success', expiration: iso(session.expiration), trigger, durationMs: now - startedAt },
      'AssumeRole',
    );
    // A key dropped by retain() while its call was in flight stays dropped; the waiters still get the session.
    if (entries.get(entry.id) !== entry) return;
    entry.session = session;
    entry.failure = undefined;
    entry.retryDelayMs = undefined;
    entry.quickRetries = 0;
    entry.lastAttemptEndedAt = now;
    const refreshAt = refreshTime(session.expiration, refreshBeforeMs, random);
    if (refreshAt - now < policy.baseMs) {
      logger.warn({ ...keyFields(entry.key), expiration: iso(session.expiration) }, 'STS returned a session shorter than refresh-before; renewing it soon');
    }
    schedule(entry, Math.max(policy.baseMs, refreshAt - now), 'refresh');
  }

  function failed(entry: Entry, error: AssumeRoleError, trigger: Trigger, startedAt: number, details: Record<string, number> = {}): KeyFailure {
    const now = clock.now();
    const result = stsResult(error);
    metrics.stsCalls.labels({ result }).inc();
    metrics.stsCallDuration.observe((now - startedAt) / 1000);
    // Throttling with nothing to serve: a few quick retries first (QUICK_RETRIES), then the backoff.
    const quick =
      error.code === STS_CODE.THROTTLING && servable(entry, now) === undefined && (entry.quickRetries < QUICK_RETRIES || entry.waiting !== undefined);
    const delay = !error.retryable ? slowRetryDelay(policy, random) : nextRetryDelay(quick ? REQUEST_RETRY : policy, entry.retryDelayMs, random);
    const current = entries.get(entry.id) === entry && !closed;
    const failure: KeyFailure = { code: error.code, message: error.message, at: now, nextAttemptAt: current ? now + delay : undefined };
    logger.warn(
      {
        ...keyFields(entry.key),
        result,
        code: error.code,
        err: error.message,
        expiration: entry.session ? iso(entry.session.expiration) : undefined,
        nextAttemptAt: failure.nextAttemptAt !== undefined ? iso(failure.nextAttemptAt) : undefined,
        trigger,
        durationMs: now - startedAt,
        ...details,
      },
      'AssumeRole',
    );
    if (entries.get(entry.id) !== entry) return failure;
    entry.failure = failure;
    entry.failureRetryable = error.retryable;
    entry.lastAttemptEndedAt = now;
    if (quick) entry.quickRetries++;
    if (error.retryable) entry.retryDelayMs = delay;
    // Never keep what can no longer be served at all.
    if (entry.session !== undefined && entry.session.expiration <= now) entry.session = undefined;
    schedule(entry, delay, 'retry');
    return failure;
  }

  function schedule(entry: Entry, delayMs: number, trigger: Trigger): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    if (closed) return;
    entry.timer = scheduler.schedule(delayMs, () => {
      entry.timer = undefined;
      // Errors are kept in entry.failure and logged; nobody awaits a background attempt.
      attempt(entry, trigger).catch(() => undefined);
    });
  }

  // What corridor_sessions and corridor_session_min_remaining_seconds show, worked out at each scrape.
  metrics.readSessionsFrom(() => {
    const now = clock.now();
    let count = 0;
    let lowest = Number.POSITIVE_INFINITY;
    for (const entry of entries.values()) {
      const session = entry.session;
      if (session === undefined || session.expiration <= now) continue;
      count++;
      lowest = Math.min(lowest, session.expiration - now);
    }
    // No session means no lifetime to report; NaN keeps "< threshold" alerts quiet on idle nodes.
    return { count, lowestRemainingSeconds: count === 0 ? Number.NaN : lowest / 1000 };
  });

  return {
    /** Counts a cache hit when it returns a session: the IMDS path tries peek first and calls get only when it misses. */
    peek(key) {
      const session = servable(entries.get(idOf(key)), clock.now());
      if (session !== undefined) cacheHit.inc();
      return session;
    },

    get(key) {
      const id = idOf(key);
      const now = clock.now();
      const existing = entries.get(id);
      const session = servable(existing, now);
      if (session !== undefined) {
        cacheHit.inc();
        return Promise.resolve(session);
      }
      if (existing?.waiting !== undefined) {
        cacheCoalesced.inc();
        return existing.waiting;
      }
      if (existing?.inflight !== undefined) {
        cacheCoalesced.inc();
      } else {
        if (existing?.failure !== undefined && requestHeldBack(existing, now)) return Promise.reject(unavailable(existing.failure));
        cacheMiss.inc();
      }
      // Joins a call in flight (a refresh, a prefetch) and, should it be throttled, retries within the wait.
      return waitForSession(entryFor(key, id));
    },

    prefetch(key) {
      const id = idOf(key);
      const now = clock.now();
      const existing = entries.get(id);
      if (servable(existing, now) !== undefined || existing?.inflight !== undefined) return;
      if (existing !== undefined && heldBack(existing, now)) return;
      attempt(entryFor(key, id), 'prefetch').catch(() => undefined);
    },

    retain(keys) {
      const keep = new Set<string>();
      for (const key of keys) keep.add(idOf(key));
      for (const [id, entry] of entries) {
        if (keep.has(id)) continue;
        entry.timer?.cancel();
        entry.timer = undefined;
        entries.delete(id);
        wakeWaiters(entry);
        logger.debug(keyFields(entry.key), 'session dropped: no pod on this node uses it');
      }
      },

    status(key) {
      const entry = entries.get(idOf(key));
      const status: KeyStatus = {
        session: entry?.session ? { expiration: entry.session.expiration, issuedAt: entry.session.issuedAt } : undefined,
        lastFailure: entry?.failure ? { ...entry.failure } : undefined,
      };
      return status;
    },

    close() {
      closed = true;
      for (const entry of entries.values()) {
        entry.timer?.cancel();
        entry.timer = undefined;
        wakeWaiters(entry);
      }
    },
  };
}

function stsResult(error: AssumeRoleError): StsResult {
  if (error.code === STS_CODE.SESSION_TOO_SHORT) return 'too-short';
  if (error.code === STS_CODE.THROTTLING) return 'throttled';
  if (isAccessDenied(error.code)) return 'access-denied';
  return 'error';
}

/** A key in log lines: role, namespace and, in pod scope, the pod; in web-identity mode the ServiceAccount. */
function keyFields(key: Readonly<SessionKey>): { role: string; namespace: string; pod?: string; serviceAccount?: string } {
  return {
    role: key.roleArn,
    namespace: key.namespace,
    ...(key.pod ? { pod: key.pod.name } : {}),
    ...(key.serviceAccount ? { serviceAccount: key.serviceAccount } : {}),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
