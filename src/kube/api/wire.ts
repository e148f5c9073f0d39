// How a request reaches the API server: over one HTTP/2 session when the server offers h2 in its
// TLS handshake (every list, watch and TokenRequest of the agent as a stream of that one
// connection, as client-go does), else over a small keep-alive pool of HTTP/1.1 connections.
// With HTTP/1.1 each open watch holds a connection of its own: two or three per agent, which at
// thousands of nodes is most of what the API server's sockets are spent on.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { isIP } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import tls from 'node:tls';
import type { Scheduler, Timer } from '../../time/index.js';
import type { KubeConnection } from './connection.js';

/** A socket-level failure of ours (timeout, bad stream, dead session); `code` like Node's own network errors. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

interface WireRequest {
  method: string;
  /** Path and query, the server URL's path prefix included. */
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** An answer's head, and its body as the server sent it (compressed or not). */
export interface WireAnswer {
  status: number;
  header(name: string): string | undefined;
  /** The raw body; a failure of the connection under it is an error on this stream. */
  body: Readable;
  /** Called once the body's stream has closed: `complete` false when it closed before the server's end of the body. */
  onClose(listener: (complete: boolean) => void): void;
}

interface WireEvents {
  answer(answer: WireAnswer): void;
  /** A failure before the answer (and possibly after it: the callers' handlers are idempotent). */
  error(error: unknown): void;
}

/** A request in flight. */
export interface WireCall {
  /** Abandons it; its events then report `error` (or nothing more). */
  destroy(error?: Error): void;
}

export interface Wire {
  send(request: WireRequest, events: WireEvents): WireCall;
  /** The protocol the next request goes over, once known: 'h2' or 'http/1.1' (undefined before the first TLS handshake). */
  readonly protocol: 'h2' | 'http/1.1' | undefined;
  close(): void;
}

export interface WireOptions {
  /**
   * A TLS handshake not done within this long fails; an HTTP/2 session that leaves a PING
   * unanswered this long is dead (a half-open connection: a node's link gone without a FIN or RST),
   * and its streams end with ETIMEDOUT so the reflectors restart on a new one.
   */
  timeoutMs: number;
  scheduler: Scheduler;
}

// HTTP/2's default window (64 KiB) lets a list arrive at 64 KiB per round trip: 1.3 MB/s to an
// API server 50 ms away. client-go's are 4 MiB per stream; the agent reads what arrives at once,
// so a larger window buffers nothing more.
const STREAM_WINDOW = 4 * 1024 * 1024;
const SESSION_WINDOW = 16 * 1024 * 1024;

// HTTP/1.1: three reflectors, each with at most one list or watch open, plus slack for sockets being torn down.
const MAX_SOCKETS = 6;

export function createWire(connection: KubeConnection, options: WireOptions): Wire {
  const base = new URL(connection.server);
  const secure = base.protocol === 'https:';
  const hostname = base.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = base.port === '' ? (secure ? 443 : 80) : Number(base.port);
  const tlsOptions = {
    ca: connection.ca,
    cert: connection.cert,
    key: connection.key,
    rejectUnauthorized: !connection.insecureSkipTlsVerify,
    // Never an address as SNI (RFC 6066); the certificate is still checked against the host.
    servername: connection.tlsServerName ?? (isIP(hostname) === 0 ? hostname : undefined),
  };
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, ...tlsOptions })
    : new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  // Plain http:// servers speak HTTP/1.1 (no h2c). Over TLS, the first handshake decides: a server
  // that does not choose h2 is spoken to in HTTP/1.1 for the transport's life.
  let protocol: 'h2' | 'http/1.1' | undefined = secure ? undefined : 'http/1.1';
  let session: Promise<Live | undefined> | undefined;
  let closed = false;

  function sendHttp1(request: WireRequest, events: WireEvents): WireCall {
    const { path, method, headers, signal } = request;
    const req = (secure ? https : http).request({ hostname, port, path, method, headers, agent, signal });
    req.on('error', (error) => events.error(error));
    req.on('response', (response) =>
      events.answer({
        status: response.statusCode ?? 0,
        header: (name) => headerText(response.headers[name]),
        body: response,
        onClose: (listener) => response.on('close', () => listener(response.complete)),
      }),
    );
    req.end(request.body);
    return { destroy: (error) => req.destroy(error) };
  }

  /** The current session, or a new one; undefined when the server chose HTTP/1.1. Concurrent callers share one handshake. */
  function currentSession(): Promise<Live | undefined> {
    if (session === undefined) {
      const dialing = dial();
      session = dialing;
      // A failed handshake is not kept: the next request dials again.
      dialing.catch(() => {
        if (session === dialing) session = undefined;
      });
    }
    return session;
  }

  function dial(): Promise<Live | undefined> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: hostname, port, ALPNProtocols: ['h2', 'http/1.1'], ...tlsOptions });
      const timer = options.scheduler.schedule(options.timeoutMs, () =>
        socket.destroy(new TransportError(`connect ${hostname}:${port}: no TLS handshake within ${options.timeoutMs} ms`, 'ETIMEDOUT')),
      );
      socket.on('error', (error: Error) => {
        timer.cancel();
        reject(error);
      });
      socket.once('secureConnect', () => {
        timer.cancel();
        if (closed) {
          socket.destroy();
          reject(new TransportError('the transport is closed', 'ECONNRESET'));
          return;
        }
        if (socket.alpnProtocol !== 'h2') {
          protocol = 'http/1.1';
          socket.destroy();
          resolve(undefined);
          return;
        }
        protocol = 'h2';
        resolve(openSession(socket));
      });
    });
  }

  function openSession(socket: tls.TLSSocket): Live {
    const opened = http2.connect(`https://${base.host}`, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    opened.once('connect', () => opened.setLocalWindowSize(SESSION_WINDOW));
    const mine = session;
    /** Forgets this session: the next request opens another. */
    const retire = () => {
      if (session === mine) session = undefined;
    };
    // Each stream reports its own failure; the session is replaced.
    opened.on('error', retire);
    // Streams the server accepted run to their end; new ones go to a new session.
    opened.on('goaway', retire);
    const live: Live = { session: opened, streams: 0, heard: true };
    const health = keepChecking(live);
    opened.on('close', () => {
      retire();
      health.cancel();
    });
    // An idle session, like an idle pooled socket, does not keep the process alive.
    opened.unref();
    return live;
  }

  /**
   * Every `timeoutMs` without a byte from the server, a PING; one still unanswered at the next
   * check means the connection is dead (as client-go's ReadIdleTimeout and PingTimeout).
   */
  function keepChecking(live: Live): Timer {
    const checked = live.session;
    let pinged = false;
    let timer = options.scheduler.schedule(options.timeoutMs, check);
    function check(): void {
      if (checked.destroyed) return;
      if (live.heard) {
        live.heard = false;
        pinged = false;
      } else if (pinged) {
        checked.destroy(new TransportError(`no answer to a PING within ${options.timeoutMs} ms: the connection is dead`, 'ETIMEDOUT'));
        return;
      } else {
        pinged = true;
        checked.ping((error) => {
          if (error === null) live.heard = true;
        });
      }
      timer = options.scheduler.schedule(options.timeoutMs, check);
    }
    return { cancel: () => timer.cancel() };
  }

  function sendHttp2(request: WireRequest, events: WireEvents): WireCall {
    let stream: http2.ClientHttp2Stream | undefined;
    let fallback: WireCall | undefined;
    let over = false;
    const abandon = (error: unknown) => {
      if (over) return;
      over = true;
      events.error(error);
    };
    const onAbort = () => abandon(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    currentSession().then(
      (opened) => {
        request.signal?.removeEventListener('abort', onAbort);
        if (request.signal?.aborted === true) abandon(request.signal.reason);
        if (over) return;
        if (opened === undefined) fallback = sendHttp1(request, events);
        else stream = openStream(opened, request, events, abandon);
      },
      (error: unknown) => {
        request.signal?.removeEventListener('abort', onAbort);
        abandon(error);
      },
    );
    return {
      destroy(error) {
        if (stream !== undefined) stream.destroy(error);
        else if (fallback !== undefined) fallback.destroy(error);
        else abandon(error ?? new TransportError('request abandoned', 'ECONNRESET'));
      },
    };
  }

  function openStream(live: Live, request: WireRequest, events: WireEvents, abandon: (error: unknown) => void): http2.ClientHttp2Stream | undefined {
    const opened = live.session;
    let stream: http2.ClientHttp2Stream;
    try {
      // As http.request: node:http2 would send a CR or LF in a value (a token file's stray newline).
      for (const [name, value] of Object.entries(request.headers)) http.validateHeaderValue(name, value);
      stream = opened.request(
        { ':method': request.method, ':path': request.path, ...request.headers },
        { endStream: request.body === undefined, signal: request.signal },
      );
    } catch (error) {
      // A header refused, or a session closing or out of stream ids: such a session takes no
      // more, and its close makes the next request open another.
      if (opened.closed) opened.destroy();
      abandon(error);
      return undefined;
    }
    // A session with streams open keeps the process alive, as a socket in use does.
    if (live.streams++ === 0) opened.ref();
    stream.on('close', () => {
      if (--live.streams === 0 && !opened.destroyed) opened.unref();
    });
    // The body is handed on through a PassThrough because a stream whose session died ends (with
    // its reset code) as a finished one does: here that is an error, as a cut HTTP/1.1 body is.
    const body = new PassThrough();
    // As IncomingMessage's: a failure nobody listens for (a reader that took only the decoded
    // stream) is not thrown; readers that care listen.
    body.on('error', () => {});
    let answered = false;
    stream.on('error', (error) => {
      const failure = streamError(error);
      events.error(failure);
      if (answered) body.destroy(failure as Error);
    });
    stream.on('end', () => {
      if ((stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR) === http2.constants.NGHTTP2_NO_ERROR) body.end();
      else body.destroy(new TransportError(`HTTP/2 stream reset (code ${stream.rstCode}): connection lost`, 'ECONNRESET'));
    });
    stream.on('response', (headers) => {
      live.heard = true;
      answered = true;
      stream.pipe(body, { end: false });
      events.answer({
        status: Number(headers[':status'] ?? 0),
        header: (name) => headerText(headers[name]),
        body,
        onClose: (listener) => stream.on('close', () => listener(body.writableEnded)),
      });
      stream.on('data', () => (live.heard = true));
    });
    if (request.body !== undefined) stream.end(request.body);
    return stream;
  }

  return {
    send(request, events) {
      return protocol === 'http/1.1' ? sendHttp1(request, events) : sendHttp2(request, events);
    },
    get protocol() {
      return protocol;
    },
    close() {
      closed = true;
      agent.destroy();
      void session?.then((live) => live?.session.destroy(), () => undefined);
      session = undefined;
    },
  };
}

/** An HTTP/2 session and what is known of it. */
interface Live {
  session: http2.ClientHttp2Session;
  /** Streams open: while there are any the session keeps the process alive. */
  streams: number;
  /** Whether anything came from the server since the last health check. */
  heard: boolean;
}

function headerText(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** HTTP/2's own failures (a reset stream, a session gone) read as the connection failures they are. */
function streamError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_HTTP2')) return new TransportError((error as Error).message, 'ECONNRESET');
  return error;
}
