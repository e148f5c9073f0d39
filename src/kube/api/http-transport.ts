// The agent lists and watches through this thin node:http(2) client (wire.ts: one HTTP/2 session
// where the server offers it) instead of @kubernetes/client-node's: importing client-node costs
// about 90 MB of RSS on every node, for what is a list and a watch per resource. client-node stays
// where a kubeconfig needs its auth plugins (exec, auth-provider: open-transport.ts loads it only
// then) and in `corridor explain`.
import { statSync, readFileSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { systemClock, systemScheduler, type Clock, type Scheduler } from '../../time/index.js';
import type { KubeConnection } from './connection.js';
import { decodeObject, decodeWatchEvent } from './protobuf.js';
import { createWire, TransportError, type Wire, type WireAnswer, type WireCall } from './wire.js';
import { FrameSplitter } from '../frame-splitter.js';
import { LineSplitter } from '../line-splitter.js';
import { resourceVersionOf } from '../parse.js';
import { record } from '../values.js';
import {
  issuedTokenOf,
  nodeUserName,
  parseRetryAfter,
  PROTOBUF_CONTENT_TYPE,
  RESOURCE_PATHS,
  tokenRequestBody,
  type KubeApiContentType,
  type KubeTransport,
  type ListResult,
  type WatchHandle,
  type WatchHandlers,
} from './transport-types.js';

export interface HttpTransportOptions {
  /**
   * A request is abandoned after this long without a byte from the server: before its answer's
   * headers, or between two chunks of a list's body (a large list that keeps arriving is never cut
   * off). A watch is bounded until its headers; the reflector bounds its silence after. Default 30 s.
   */
  requestTimeoutMs?: number;
  /** A token file is re-read when it changes, and at least this often. Default 60 s. */
  tokenMaxAgeMs?: number;
  userAgent?: string;
  /**
   * What lists and watches ask for: protobuf (with JSON as the fallback a server may choose) or
   * JSON only, as kubelet's --kube-api-content-type. Default protobuf.
   */
  contentType?: KubeApiContentType;
  clock?: Clock;
  scheduler?: Scheduler;
}

/**
 * An error answer from the API server; `statusCode` is what the reflector reads (410 means relist),
 * `retryAfterMs` its Retry-After (429 from API Priority and Fairness, 503 when shedding load).
 */
class KubeApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly reason: string | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** A watch event is one pod or namespace; a line (or frame) this long is a broken stream. */
const MAX_EVENT_BYTES = 64 * 1024 * 1024;
/**
 * The Accept header of lists and watches. Protobuf first: the API server encodes it for less CPU
 * than JSON, and the agent reads only the fields it needs (protobuf.ts). JSON stays acceptable
 * for a server, or a proxy in front of it, that does not speak protobuf.
 */
function listAccept(contentType: KubeApiContentType): string {
  return contentType === PROTOBUF_CONTENT_TYPE ? `${PROTOBUF_CONTENT_TYPE}, application/json` : 'application/json';
}
/** Error bodies are Status objects of a few hundred bytes; more is not worth holding. */
const MAX_ERROR_BODY = 64 * 1024;
/** A Node object with its images and conditions is tens of kilobytes; a few megabytes is a broken answer. */
const MAX_OBJECT_BODY = 4 * 1024 * 1024;

/**
 * The KubeTransport over HTTP/2 or HTTP/1.1 (see wire.ts), speaking the list and watch protocol
 * directly: GET with query parameters; lists and watch events in protobuf (length-prefixed
 * frames) or JSON (one event per line), whichever the server answers. It
 * replaces client-node on the agent's path, which would cost about 90 MB of RSS on every node for
 * two GET requests.
 */
export function createHttpTransport(connection: KubeConnection, options: HttpTransportOptions = {}): KubeTransport {
  const prefix = new URL(connection.server).pathname.replace(/\/+$/, '');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const scheduler = options.scheduler ?? systemScheduler;
  const clock = options.clock ?? systemClock;
  const wire: Wire = createWire(connection, { timeoutMs: requestTimeoutMs, scheduler });
  const token =
    connection.tokenFile !== undefined
      ? new TokenFile(connection.tokenFile, clock, options.tokenMaxAgeMs ?? 60_000)
      : undefined;
  const userAgent = options.userAgent ?? 'corridor';
  const accept = { accept: listAccept(options.contentType ?? PROTOBUF_CONTENT_TYPE) };

  function send(
    path: string,
    query: URLSearchParams,
    signal: AbortSignal | undefined,
    events: { answer(answer: WireAnswer): void; error(error: unknown): void },
    request: { method?: string; body?: { contentType: string; json: unknown }; headers?: Record<string, string> } = {},
  ): WireCall {
    // gzip: a namespace list shrinks about tenfold, which is most of what an agent costs the API
    // server's network at start-up. The server compresses only answers worth it (lists over its threshold).
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'gzip', 'user-agent': userAgent, ...request.headers };
    if (request.body !== undefined) headers['content-type'] = request.body.contentType;
    const bearer = token?.current() ?? connection.token;
    if (bearer !== undefined && bearer !== '') headers.authorization = `Bearer ${bearer}`;
    const search = query.toString();
    const body = request.body === undefined ? undefined : JSON.stringify(request.body.json);
    return wire.send({ method: request.method ?? 'GET', path: `${prefix}${path}${search === '' ? '' : `?${search}`}`, headers, body, signal }, events);
  }

  /**
   * One request whose answer is one document (a list, a node), parsed by `parse` from its bytes
   * and content type, as long as the server is never silent for the request timeout. `maxBytes`
   * bounds what is held of the (decompressed) answer: past it the document is cut and fails to parse.
   */
  function exchange<T>(
    what: string,
    path: string,
    options: {
      query?: URLSearchParams;
      signal?: AbortSignal;
      method?: string;
      body?: { contentType: string; json: unknown };
      maxBytes?: number;
      headers?: Record<string, string>;
      /** Answers that count as success: 200, and 201 for a create. */
      ok?: readonly number[];
    },
    parse: (body: Buffer, contentType: string) => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        silence.cancel();
        outcome();
      };
      const fail = (error: unknown) => settle(() => reject(error));
      const silence = silenceLimit(what, (error) => {
        fail(error);
        call?.destroy(error);
      });
      const answered = (answer: WireAnswer) => {
        silence.heard();
        answer.body.on('data', () => silence.heard());
        const { status } = answer;
        noteStatus(status);
        const body = decoded(answer, what);
        const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
        const chunks: Buffer[] = [];
        let size = 0;
        body.on('data', (chunk: Buffer) => {
          if (size >= maxBytes) return;
          chunks.push(chunk);
          size += chunk.length;
        });
        body.on('error', fail);
        answer.body.on('error', fail);
        answer.onClose((complete) => {
          if (!complete) fail(new TransportError(`${what}: connection closed before the end of the answer`, 'ECONNRESET'));
        });
        body.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const type = contentTypeOf(answer);
          if (!(options.ok ?? [200]).includes(status)) return fail(apiError(what, status, bytes, type, retryAfter(answer)));
          settle(() => {
            try {
              resolve(parse(bytes, type));
            } catch (error) {
              reject(new TransportError(`${what}: ${(error as Error).message}`, 'EBADRESPONSE'));
            }
          });
        });
      };
      let call: WireCall | undefined;
      try {
        call = send(path, options.query ?? new URLSearchParams(), options.signal, { answer: answered, error: fail }, options);
      } catch (error) {
        fail(error);
      }
    });
  }

  /**
   * Calls `expire` once nothing has been heard for the request timeout. One timer, moved on only
   * when it fires (not per chunk), so a list arriving in thousands of chunks costs a few timers.
   */
  function silenceLimit(what: string, expire: (error: TransportError) => void): { heard(): void; cancel(): void } {
    let heardAt = clock.now();
    let timer = scheduler.schedule(requestTimeoutMs, check);
    function check(): void {
      const quietMs = clock.now() - heardAt;
      if (quietMs >= requestTimeoutMs) expire(new TransportError(`${what}: nothing received for ${requestTimeoutMs} ms`, 'ETIMEDOUT'));
      else timer = scheduler.schedule(requestTimeoutMs - quietMs, check);
    }
    return {
      heard: () => {
        heardAt = clock.now();
      },
      cancel: () => timer.cancel(),
    };
  }

  function retryAfter(answer: WireAnswer): number | undefined {
    const header = answer.header('retry-after');
    return header === undefined ? undefined : parseRetryAfter(header, clock.now());
  }

  /** A rejected request whose answer says the token is stale: the next one reads the file again. */
  function noteStatus(status: number): void {
    if (status === 401) token?.invalidate();
  }

  return {
    list(resource, request) {
      const query = new URLSearchParams();
      if (request.fieldSelector !== undefined) query.set('fieldSelector', request.fieldSelector);
      if (request.limit !== undefined) query.set('limit', String(request.limit));
      // A continue token names its snapshot; a resourceVersion beside it is refused (400).
      if (request.continue !== undefined) query.set('continue', request.continue);
      else {
        if (request.resourceVersion !== undefined) query.set('resourceVersion', request.resourceVersion);
        if (request.resourceVersionMatch !== undefined) query.set('resourceVersionMatch', request.resourceVersionMatch);
      }
      return exchange(`list ${resource}`, RESOURCE_PATHS[resource], { query, signal: request.signal, headers: accept }, parseList);
    },

    watch(resource, request, handlers) {
      const query = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: String(request.timeoutSeconds) });
      if (request.resourceVersion !== '') query.set('resourceVersion', request.resourceVersion);
      if (request.fieldSelector !== undefined) query.set('fieldSelector', request.fieldSelector);
      return new Promise<WatchHandle>((resolve) => {
        const controller = new AbortController();
        let over = false;
        const handle: WatchHandle = {
          abort() {
            if (over) return;
            over = true;
            openTimer.cancel();
            controller.abort();
          },
        };
        const finish = (error: unknown) => {
          if (over) return;
          over = true;
          openTimer.cancel();
          // A cleanly ended stream leaves its socket to the keep-alive pool (or its session open).
          if (error !== null) call?.destroy();
          handlers.done(error);
          resolve(handle);
        };
        const openTimer = scheduler.schedule(requestTimeoutMs, () =>
          finish(new TransportError(`watch ${resource}: not open within ${requestTimeoutMs} ms`, 'ETIMEDOUT')),
        );
        let call: WireCall | undefined;
        try {
          const events = {
            // After abort(), the request's own AbortError lands here and is ignored by finish.
            error: finish,
            answer: (answer: WireAnswer) => {
              openTimer.cancel();
              const { status } = answer;
              noteStatus(status);
              const body = decoded(answer, `watch ${resource}`);
              if (status !== 200) {
                readBounded(body, MAX_ERROR_BODY, (bytes) => finish(apiError(`watch ${resource}`, status, bytes, contentTypeOf(answer), retryAfter(answer))));
                return;
              }
              resolve(handle);
              streamEvents(answer, body, handlers, () => over, finish);
            },
          };
          call = send(RESOURCE_PATHS[resource], query, controller.signal, events, { headers: accept });
        } catch (error) {
          finish(error);
        }
      });
    },

    getNode(name) {
      return exchange(`get node ${name}`, nodePath(name), { maxBytes: MAX_OBJECT_BODY }, parseJson);
    },

    patchNode(name, patch) {
      const body = { contentType: 'application/json-patch+json', json: patch };
      return exchange(`patch node ${name}`, nodePath(name), { method: 'PATCH', body, maxBytes: MAX_OBJECT_BODY }, parseJson);
    },

    requestToken(request) {
      const what = `token for serviceaccount ${request.namespace}/${request.serviceAccount}`;
      const path = `/api/v1/namespaces/${encodeURIComponent(request.namespace)}/serviceaccounts/${encodeURIComponent(request.serviceAccount)}/token`;
      const body = { contentType: 'application/json', json: tokenRequestBody(request) };
      const headers: Record<string, string> = request.asNode !== undefined ? { 'impersonate-user': nodeUserName(request.asNode) } : {};
      return exchange(what, path, { method: 'POST', body, headers, ok: [200, 201], maxBytes: MAX_ERROR_BODY }, (bytes) => issuedTokenOf(parseJson(bytes)));
    },

    close() {
      wire.close();
    },
  };
}

/**
 * The answer's body as it was sent: gunzipped as it streams in when the server compressed it, so
 * a watch event is delivered when its bytes arrive, not when the stream ends. A corrupt stream
 * is an EBADRESPONSE error on the returned stream.
 */
function decoded(answer: WireAnswer, what: string): Readable {
  const response = answer.body;
  const encoding = (answer.header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return response;
  if (encoding !== 'gzip') {
    // Only gzip is asked for; anything else cannot be read.
    response.resume();
    const refused = new PassThrough();
    process.nextTick(() => refused.destroy(new TransportError(`${what}: unsupported content-encoding ${encoding}`, 'EBADRESPONSE')));
    return refused;
  }
  const gunzip = zlib.createGunzip();
  response.pipe(gunzip);
  const bad = new PassThrough();
  gunzip.on('error', (error) => bad.destroy(new TransportError(`${what}: corrupt gzip body: ${error.message}`, 'EBADRESPONSE')));
  // A body cut off (its connection lost) never ends the gunzip it feeds: its reader would wait forever.
  response.on('error', (error) => bad.destroy(error));
  return gunzip.pipe(bad);
}

/**
 * Delivers a watch response's events from its decoded `body` until the stream ends or the watch
 * is over: length-prefixed protobuf frames (FrameSplitter) when the server answered protobuf,
 * else one JSON object per line (LineSplitter). Calls `finish` once: null when the server ended
 * the stream.
 */
function streamEvents(
  answer: WireAnswer,
  body: Readable,
  handlers: WatchHandlers,
  isOver: () => boolean,
  finish: (error: unknown) => void,
): void {
  const events = isProtobuf(contentTypeOf(answer)) ? protobufEvents() : jsonEvents();
  /** False once the watch is over (a bad event, or a handler that aborted it). */
  const deliver = (pieces: readonly (string | Buffer)[]): boolean => {
    for (const piece of pieces) {
      if (isOver()) return false;
      let event: { type: unknown; object: unknown } | undefined;
      try {
        event = events.read(piece);
      } catch (error) {
        finish(new TransportError(`malformed watch event: ${(error as Error).message}`, 'EBADRESPONSE'));
        return false;
      }
      if (event === undefined) continue;
      const { type, object } = event;
      if (typeof type !== 'string') {
        finish(new TransportError('watch event without a type', 'EBADRESPONSE'));
        return false;
      }
      // ERROR events (410 Gone among them) go to the handler like any other: it decides.
      try {
        handlers.event(type, object);
      } catch (error) {
        // Thrown from a socket callback it would crash the process; it ends this watch instead.
        finish(error);
        return false;
      }
    }
    return !isOver();
  };
  body.on('data', (chunk: Buffer) => {
    if (isOver() || !deliver(events.push(chunk))) return;
    if (events.pending() > MAX_EVENT_BYTES) finish(new TransportError(`watch event longer than ${MAX_EVENT_BYTES} bytes`, 'EBADRESPONSE'));
  });
  body.on('end', () => {
    if (!isOver() && deliver(events.end())) finish(null);
  });
  body.on('error', (error) => finish(error));
  answer.body.on('error', (error) => finish(error));
  answer.onClose((complete) => {
    if (!complete) finish(new TransportError('watch connection closed before the end of the stream', 'ECONNRESET'));
  });
}

/** How one watch encoding cuts its stream into events and reads each. */
interface EventReader {
  push(chunk: Buffer): readonly (string | Buffer)[];
  end(): readonly (string | Buffer)[];
  /** Bytes held for an event not complete yet (or, for a frame, announced). */
  pending(): number;
  /** The event in one piece; undefined for a piece that holds none (a blank line). */
  read(piece: string | Buffer): { type: unknown; object: unknown } | undefined;
}

function jsonEvents(): EventReader {
  const splitter = new LineSplitter();
  return {
    push: (chunk) => splitter.push(chunk),
    end: () => splitter.end(),
    pending: () => splitter.pendingLength,
    read(line) {
      const text = line as string;
      if (text.trim() === '') return undefined;
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        throw new Error(text.slice(0, 200));
      }
      return { type: record(event).type, object: record(event).object };
    },
  };
}

function protobufEvents(): EventReader {
  const splitter = new FrameSplitter();
  return {
    push: (chunk) => splitter.push(chunk),
    // A frame cut off by the end of the stream is no event; the stream ended where it did.
    end: () => [],
    pending: () => Math.max(splitter.pendingLength, splitter.announcedLength ?? 0),
    read: (frame) => decodeWatchEvent(frame as Buffer),
  };
}

function readBounded(response: Readable, limit: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let called = false;
  const complete = () => {
    if (called) return;
    called = true;
    done(Buffer.concat(chunks));
  };
  response.on('data', (chunk: Buffer) => {
    if (size >= limit) return;
    chunks.push(chunk);
    size += chunk.length;
  });
  response.on('end', complete);
  response.on('close', complete);
  response.on('error', complete);
}

function nodePath(name: string): string {
  return `/api/v1/nodes/${encodeURIComponent(name)}`;
}

/** The media type of an answer, without its parameters' case mattering. */
function contentTypeOf(answer: WireAnswer): string {
  return (answer.header('content-type') ?? '').trim().toLowerCase();
}

function isProtobuf(contentType: string): boolean {
  return contentType.startsWith(PROTOBUF_CONTENT_TYPE);
}

function parseJson(body: Buffer): unknown {
  return JSON.parse(body.toString('utf8'));
}

function parseList(body: Buffer, contentType: string): ListResult {
  const parsed: unknown = isProtobuf(contentType) ? decodeObject(body) : parseJson(body);
  const { items, metadata } = record(parsed);
  if (!Array.isArray(items)) throw new Error('the answer is not a list (no items)');
  const token = record(metadata).continue;
  return { items, resourceVersion: resourceVersionOf(parsed), ...(typeof token === 'string' && token !== '' ? { continue: token } : {}) };
}

/** The message of a metav1.Status body (JSON or protobuf) when there is one, so logs say what the server said. */
function apiError(what: string, status: number, body: Buffer, contentType: string, retryAfterMs: number | undefined): KubeApiError {
  let reason: string | undefined;
  let message = isProtobuf(contentType) ? '' : body.toString('utf8').slice(0, 300);
  try {
    const parsed = (isProtobuf(contentType) ? decodeObject(body) : parseJson(body)) as { reason?: unknown; message?: unknown };
    if (typeof parsed.reason === 'string') reason = parsed.reason;
    if (typeof parsed.message === 'string') message = parsed.message.slice(0, 300);
  } catch {
    // Not a Status object (a proxy's HTML page, say): the raw start of the body is the message.
  }
  return new KubeApiError(`${what}: HTTP ${status}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}`, status, reason, retryAfterMs);
}

/**
 * A bearer token kept in a file, as the kubelet's projected ServiceAccount tokens are (rotated
 * about hourly by replacing the file). Read again when the file changes, and at least every
 * `maxAgeMs` in case a change kept its size and time; a failed read keeps the last good token.
 */
class TokenFile {
  private value: string | undefined;
  private signature = '';
  private readAt = 0;

  constructor(
    private readonly file: string,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
  ) {}

  current(): string {
    let signature: string;
    try {
      const stat = statSync(this.file);
      signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch (error) {
      if (this.value !== undefined) return this.value;
      throw new Error(`cannot read token file ${this.file}: ${(error as Error).message}`);
    }
    const now = this.clock.now();
    if (this.value === undefined || signature !== this.signature || now - this.readAt >= this.maxAgeMs) {
      try {
        this.value = readFileSync(this.file, 'utf8').trim();
        this.signature = signature;
        this.readAt = now;
      } catch (error) {
        if (this.value === undefined) throw new Error(`cannot read token file ${this.file}: ${(error as Error).message}`);
      }
    }
    return this.value;
  }

  /** The server refused the token: read the file again on the next request (the last good value stays as fallback). */
  invalidate(): void {
    this.readAt = Number.NEGATIVE_INFINITY;
  }
}
