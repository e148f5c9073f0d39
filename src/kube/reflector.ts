import { inspect } from 'node:util';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { resourceVersionOf, statusCodeOf } from './parse.js';
import { httpStatusOf, type ListWatch, type WatchHandle, type WatchResource } from './api/transport-types.js';

/** Where a reflector puts what it sees. Objects are raw; the store parses them. */
export interface ReflectorStore {
  /** The complete set after a list: anything not in it was deleted while nobody watched. */
  replace(objects: readonly unknown[]): void;
  upsert(object: unknown): void;
  remove(object: unknown): void;
}

export interface ReflectorTimings {
  backoff?: Partial<BackoffOptions>;
  /** A list, or a watch that has not opened, is abandoned after this long. */
  requestTimeoutMs?: number;
  /** Watches ask the server to end after this many seconds, randomised up to twice that. */
  watchTimeoutSeconds?: number;
  /** Randomness for jitter; tests pin it. */
  random?: () => number;
}

export interface ReflectorOptions extends ReflectorTimings {
  resource: WatchResource;
  fieldSelector?: string;
  /** Only lists and watches: the rest of the transport is not a reflector's business. */
  transport: ListWatch;
  store: ReflectorStore;
  scheduler: Scheduler;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** Called after every successful list, the first of which makes the resource ready. */
  onListed?: () => void;
}

/** After the server's own timeout, how long a silent watch may go on before it counts as dead. */
const WATCH_GRACE_SECONDS = 30;

interface WatchEnd {
  reason: string;
  relist: boolean;
  error?: unknown;
}

/**
 * List, then watch from the list's resourceVersion, for one resource, for as long as it runs.
 * A closed or failed watch resumes from the last resourceVersion seen after a capped, jittered
 * backoff; an expired one (410 Gone, as HTTP status or as an ERROR event) lists again and
 * replaces the store. The store is never cleared on failure: the last known state keeps serving.
 */
export class Reflector {
  private readonly backoff: BackoffOptions;
  private readonly requestTimeoutMs: number;
  private readonly watchTimeoutSeconds: number;
  private readonly random: () => number;
  private readonly logger: Logger;
  private running = false;
  /** Identifies the current list or watch; callbacks from an older one are ignored. */
  private attempt = 0;
  private failures = 0;
  private needsList = true;
  private listedOnce = false;
  private resourceVersion = '';
  private retryTimer: Timer | undefined;
  private cancelCurrent: (() => void) | undefined;

  constructor(private readonly options: ReflectorOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.random = options.random ?? Math.random;
    this.logger = options.logger.child({ resource: options.resource });
  }

  /** True once a list has succeeded; stays true through later outages. */
  get listed(): boolean {
    return this.listedOnce;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.next();
  }

  stop(): void {
    this.running = false;
    this.attempt++;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.cancelCurrent?.();
    this.cancelCurrent = undefined;
  }

  private next(): void {
    if (!this.running) return;
    if (this.needsList) void this.list();
    else void this.watch();
  }

  private async list(): Promise<void> {
    const attempt = ++this.attempt;
    const controller = new AbortController();
    const timeout = this.options.scheduler.schedule(this.requestTimeoutMs, () => controller.abort());
    this.cancelCurrent = () => {
      timeout.cancel();
      controller.abort();
    };
    let result;
    try {
      result = await this.options.transport.list(this.options.resource, {
        fieldSelector: this.options.fieldSelector,
        // The first list may come from the API server's watch cache (every node lists at once
        // when the DaemonSet rolls); a relist after 410 must not go back in time, so it reads through.
        resourceVersion: this.listedOnce ? undefined : '0',
        signal: controller.signal,
      });
    } catch (error) {
      timeout.cancel();
      if (attempt === this.attempt) this.retry({ reason: 'list failed', relist: true, error });
      return;
    }
    timeout.cancel();
    if (attempt !== this.attempt) return;
    this.options.store.replace(result.items);
    this.resourceVersion = result.resourceVersion ?? '';
    this.needsList = false;
    this.listedOnce = true;
    this.logger.debug({ objects: result.items.length, resourceVersion: this.resourceVersion }, 'listed');
    this.options.onListed?.();
    this.next();
  }

  private async watch(): Promise<void> {
    const attempt = ++this.attempt;
    const { clock, scheduler } = this.options;
    const openedAt = clock.now();
    const timeoutSeconds = this.watchTimeoutSeconds + Math.floor(this.random() * this.watchTimeoutSeconds);
    let handle: WatchHandle | undefined;
    let ended = false;
    let sawEvent = false;
    const current = () => !ended && attempt === this.attempt;

    const end = (outcome: WatchEnd) => {
      if (!current()) return;
      ended = true;
      openTimer.cancel();
      watchdog.cancel();
      handle?.abort();
      // A watch that delivered something or lived a while was healthy: the next failure starts the backoff over.
      if (sawEvent || clock.now() - openedAt >= this.backoff.maxMs) this.failures = 0;
      this.retry(outcome);
    };

    const openTimer = scheduler.schedule(this.requestTimeoutMs, () =>
      end({ reason: 'watch did not open in time', relist: false }),
    );
    // The server ends every watch after timeoutSeconds; one still silent well past that is a dead connection.
    const watchdog = scheduler.schedule((timeoutSeconds + WATCH_GRACE_SECONDS) * 1000, () =>
      end({ reason: 'watch outlived its timeout', relist: false }),
    );
    this.cancelCurrent = () => {
      ended = true;
      openTimer.cancel();
      watchdog.cancel();
      handle?.abort();
    };

    const handlers = {
      event: (type: string, object: unknown) => {
        if (!current()) return;
        if (type === 'ERROR') {
          const code = statusCodeOf(object);
          end(
            code === 410
              ? { reason: 'resourceVersion expired (ERROR event 410)', relist: true }
              : { reason: 'watch ERROR event', relist: false, error: object },
          );
          return;
        }
        sawEvent = true;
        this.apply(type, object);
      },
      done: (error: unknown) => {
        if (error === null || error === undefined) end({ reason: 'watch closed', relist: false });
        else if (httpStatusOf(error) === 410) end({ reason: 'resourceVersion expired (HTTP 410)', relist: true });
        else end({ reason: 'watch failed', relist: false, error });
      },
    };

    try {
      handle = await this.options.transport.watch(
        this.options.resource,
        { fieldSelector: this.options.fieldSelector, resourceVersion: this.resourceVersion, timeoutSeconds },
        handlers,
      );
    } catch (error) {
      handlers.done(error ?? new Error('watch failed'));
      return;
    }
    if (current()) openTimer.cancel();
    else handle.abort();
  }

  private apply(type: string, object: unknown): void {
    try {
      if (type === 'ADDED' || type === 'MODIFIED') this.options.store.upsert(object);
      else if (type === 'DELETED') this.options.store.remove(object);
      else if (type !== 'BOOKMARK') {
        this.logger.debug({ type }, 'ignored watch event of unknown type');
        return;
      }
    } catch (error) {
      // A store bug must not kill the watch, nor reach the transport's socket callbacks.
      this.logger.error({ err: error, type }, 'applying a watch event failed');
    }
    const version = resourceVersionOf(object);
    if (version !== undefined) this.resourceVersion = version;
  }

  private retry(outcome: WatchEnd): void {
    if (!this.running) return;
    if (outcome.relist) this.needsList = true;
    const delayMs = backoffDelay(this.failures, this.backoff, this.random);
    this.failures++;
    this.options.metrics.watchRestarts.inc({ resource: this.options.resource });
    const fields = {
      reason: outcome.reason,
      relist: this.needsList,
      delayMs,
      status: httpStatusOf(outcome.error),
      error: describe(outcome.error),
    };
    // Servers end watches routinely (timeoutSeconds); only failures are worth a warning.
    if (outcome.error === undefined && !outcome.relist) this.logger.debug(fields, 'watch restarting');
    else this.logger.warn(fields, 'watch restarting');
    this.retryTimer = this.options.scheduler.schedule(delayMs, () => {
      this.retryTimer = undefined;
      this.next();
    });
  }
}

function describe(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (error instanceof Error) return error.message.slice(0, 300);
  const message = typeof error === 'object' ? (error as { message?: unknown }).message : error;
  // A message or a string as it is; anything else inspected (an object as its fields, not "[object Object]").
  return (typeof message === 'string' ? message : inspect(error, { depth: 2, breakLength: Infinity })).slice(0, 300);
}
