import { inspect } from 'node:util';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';
import { DEFAULT_BACKOFF, retryDelay, type BackoffOptions } from './backoff.js';
import { resourceVersionOf, statusCodeOf } from './parse.js';
import { httpStatusOf, retryAfterOf, type ListRequest, type ListResult, type ListWatch, type WatchHandle, type WatchResource } from './api/transport-types.js';

/** Where a reflector puts what it sees. Objects are raw; the store parses them. */
export interface ReflectorStore {
  /** The complete set after a list: anything not in it was deleted while nobody watched. */
  replace(objects: readonly unknown[]): void;
  upsert(object: unknown): void;
  remove(object: unknown): void;
}

export interface ReflectorTimings {
  backoff?: Partial<BackoffOptions>;
  /**
   * A watch that has not opened is abandoned after this long. A list is bounded by its transport
   * (the http transport: by silence, so a large list that keeps arriving is never cut off).
   */
  requestTimeoutMs?: number;
  /** Objects per page of a list (`limit`). Default 500, as client-go's. */
  pageSize?: number;
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

const DEFAULT_PAGE_SIZE = 500;

type ListParameters = Pick<ListRequest, 'resourceVersion' | 'resourceVersionMatch' | 'limit'>;

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
  private readonly pageSize: number;
  private readonly logger: Logger;
  private running = false;
  /** Identifies the current list or watch; callbacks from an older one are ignored. */
  private attempt = 0;
  private failures = 0;
  private needsList = true;
  private listedOnce = false;
  private resourceVersion = '';
  /** The last list came in pages: this server pages (watch cache off, or one that pages from it). */
  private paginated = false;
  /** A relist at our resourceVersion was refused (410 from etcd, 504 from a cache behind it): read the latest instead. */
  private readLatest = false;
  private retryTimer: Timer | undefined;
  private cancelCurrent: (() => void) | undefined;

  constructor(private readonly options: ReflectorOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.random = options.random ?? Math.random;
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
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
    this.cancelCurrent = () => controller.abort();
    const parameters = this.listParameters();
    let result;
    try {
      result = await this.listPages(parameters, controller.signal);
    } catch (error) {
      if (attempt !== this.attempt) return;
      const status = httpStatusOf(error);
      if (parameters.resourceVersion !== undefined && parameters.resourceVersion !== '0' && (status === 410 || status === 504)) this.readLatest = true;
      this.retry({ reason: 'list failed', relist: true, error });
      return;
    }
    if (attempt !== this.attempt) return;
    this.options.store.replace(result.items);
    this.resourceVersion = result.resourceVersion ?? '';
    this.paginated = result.pages > 1;
    this.readLatest = false;
    this.needsList = false;
    this.listedOnce = true;
    this.logger.debug({ objects: result.items.length, pages: result.pages, resourceVersion: this.resourceVersion, ...parameters }, 'listed');
    this.options.onListed?.();
    this.next();
  }

  /**
   * Which snapshot a list asks for, so that as many lists as possible are answered from the API
   * server's watch cache rather than etcd (a relist from etcd reads every object of the resource,
   * and after an API server restart every agent relists at once):
   * - the first list, `resourceVersion=0` ("any"): from the watch cache on every version; an agent
   *   that has seen nothing cannot go back in time. Servers whose watch cache does not page ignore
   *   the limit there and send the list whole.
   * - a relist (after 410 Gone or a failed list), `resourceVersion=<last seen>` ("not older than"):
   *   never older than what the agent already holds, and from the watch cache on every version
   *   when unpaginated (a limit with a resourceVersion sends it to etcd on older servers), so
   *   unpaginated unless the server paged the last list (then its watch cache is off, or pages).
   * - a relist refused at that resourceVersion (410 from etcd, 504 when the cache is behind it):
   *   the latest, a consistent read, paginated.
   */
  private listParameters(): ListParameters {
    const limit = this.pageSize;
    if (!this.listedOnce || this.resourceVersion === '') return { resourceVersion: '0', limit };
    if (this.readLatest) return { limit };
    if (this.paginated) return { resourceVersion: this.resourceVersion, resourceVersionMatch: 'NotOlderThan', limit };
    return { resourceVersion: this.resourceVersion };
  }

  /**
   * Every page of one list, following `continue` tokens; the list's resourceVersion is its first
   * page's (every page is read from that snapshot, and the watch starts there). The store is
   * replaced only with the whole list: half of one would delete the other half's objects.
   */
  private async listPages(parameters: ListParameters, signal: AbortSignal): Promise<{ items: unknown[]; resourceVersion: string | undefined; pages: number }> {
    const { transport, resource, fieldSelector } = this.options;
    const first = await transport.list(resource, { fieldSelector, ...parameters, signal });
    const items = [...first.items];
    let token = first.continue;
    let pages = 1;
    while (token !== undefined) {
      let page: ListResult;
      try {
        page = await transport.list(resource, { fieldSelector, limit: parameters.limit, continue: token, signal });
      } catch (error) {
        if (httpStatusOf(error) !== 410) throw error;
        // The snapshot the token names was compacted away: paging took longer than the server keeps
        // old revisions (about 5 minutes). Start over in one unpaginated request, which cannot expire.
        this.logger.warn({ pages, objects: items.length }, 'continue token expired; listing again in one request');
        const whole = await transport.list(resource, { fieldSelector, ...parameters, limit: undefined, signal });
        return { items: [...whole.items], resourceVersion: whole.resourceVersion, pages: 1 };
      }
      // One push per object: spreading a page of thousands into push() can overflow the stack.
      for (const item of page.items) items.push(item);
      token = page.continue;
      pages++;
    }
    return { items, resourceVersion: first.resourceVersion, pages };
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
    const status = httpStatusOf(outcome.error);
    const retryAfterMs = retryAfterOf(outcome.error);
    // API Priority and Fairness turns requests away with 429 and Retry-After; a server shedding load, 503.
    const throttled = status === 429 || (status === 503 && retryAfterMs !== undefined);
    const delayMs = retryDelay(this.failures, this.backoff, retryAfterMs, this.random);
    this.failures++;
    this.options.metrics.watchRestarts.inc({ resource: this.options.resource });
    if (throttled) this.options.metrics.kubeThrottled.inc({ resource: this.options.resource });
    const fields = {
      reason: outcome.reason,
      relist: this.needsList,
      delayMs,
      status,
      retryAfterMs,
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
