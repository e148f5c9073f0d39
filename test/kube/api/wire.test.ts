import { once } from 'node:events';
import http from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import type { KubeConnection } from '../../../src/kube/api/connection.js';
import { createHttpTransport, type HttpTransportOptions } from '../../../src/kube/api/http-transport.js';
import { httpStatusOf, type KubeTransport, type WatchHandlers } from '../../../src/kube/api/transport-types.js';
import { createWire } from '../../../src/kube/api/wire.js';
import { within } from '../../helpers/fake-kube-api.js';
import { FakeTime, settle } from '../../helpers/fake-time.js';
import { hasOpenssl, makePki, type Pki } from '../../helpers/pki.js';
import { tcpRelay } from '../../helpers/tcp-relay.js';

const WAIT_MS = 5000;
const never = new AbortController().signal;
const openssl = await hasOpenssl();

type Request = http.IncomingMessage | Http2ServerRequest;
type Response = http.ServerResponse | Http2ServerResponse;

/**
 * A stand-in API server over TLS that counts its TCP connections, HTTP/2 sessions and the protocol
 * of each request. Lists answer at once; a watch sends one ADDED event and stays open until the
 * test ends it; a TokenRequest POST echoes its audience; GET of a node answers the node.
 */
interface Counted {
  connection: KubeConnection;
  connections: number;
  sessions: ServerHttp2Session[];
  /** `httpVersion` of each request, in arrival order. */
  versions: string[];
  /** The open watches' responses. */
  watches: Response[];
  /** Resolves when the next watch request is open. */
  nextWatch(): Promise<Response>;
  /** Destroys every TCP connection open now, as a connection reset does. */
  dropConnections(): void;
}

async function countedServer(t: Test, pki: Pki, protocol: 'h2' | 'http/1.1', server: { host?: string; port?: number } = {}): Promise<Counted> {
  const waiting: Array<(response: Response) => void> = [];
  const sockets = new Set<Socket>();
  const counted: Counted = {
    connection: { server: '', ca: pki.ca, insecureSkipTlsVerify: false, source: 'test' },
    connections: 0,
    sessions: [],
    versions: [],
    watches: [],
    nextWatch: () => within(new Promise<Response>((resolve) => waiting.push(resolve)), WAIT_MS, 'the watch request'),
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
  const handler = (request: Request, response: Response) => {
    counted.versions.push(request.httpVersion);
    const url = new URL(request.url ?? '/', 'https://x');
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'POST') {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        const audience = (JSON.parse(text) as { spec: { audiences: string[] } }).spec.audiences[0];
        json(201, { status: { token: `token-for-${audience}`, expirationTimestamp: '2030-01-01T00:00:00Z' } });
      });
      return;
    }
    // Serviceaccounts stand for a stream the server resets (HTTP/2 only).
    if (url.pathname === '/api/v1/serviceaccounts' && 'stream' in response) return response.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    if (url.pathname.startsWith('/api/v1/nodes/')) return json(200, { metadata: { name: url.pathname.split('/').pop() } });
    if (url.searchParams.get('watch') === 'true') {
      response.writeHead(200, { 'content-type': 'application/json' });
      (response as http.ServerResponse).write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'first', resourceVersion: '2' } } })}\n`);
      counted.watches.push(response);
      waiting.shift()?.(response);
      return;
    }
    json(200, { kind: 'List', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: url.pathname } }] });
  };
  const tlsServer =
    protocol === 'h2'
      ? http2.createSecureServer({ cert: pki.serverCert, key: pki.serverKey }, handler)
      : https.createServer({ cert: pki.serverCert, key: pki.serverKey }, handler);
  tlsServer.on('connection', (socket: Socket) => {
    counted.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  tlsServer.on('session', (session: ServerHttp2Session) => counted.sessions.push(session));
  tlsServer.listen(server.port ?? 0, server.host ?? '127.0.0.1');
  await once(tlsServer, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    tlsServer.close();
  });
  counted.connection.server = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  return counted;
}

function open(t: Test, connection: KubeConnection, options: HttpTransportOptions = {}): KubeTransport {
  const transport = createHttpTransport(connection, options);
  t.teardown(() => transport.close?.());
  return transport;
}

/** WatchHandlers that count events and resolve `done` with done's argument. */
function recorder() {
  let events = 0;
  let resolveDone!: (error: unknown) => void;
  const done = new Promise<unknown>((resolve) => (resolveDone = resolve));
  const handlers: WatchHandlers = {
    event: () => events++,
    done: (error) => resolveDone(error),
  };
  return { handlers, events: () => events, done: (what = 'the watch to end') => within(done, WAIT_MS, what) };
}

/** A pods watch on `transport` with a fresh recorder, once `server` has the request; the server's side of it. */
async function openWatch(transport: KubeTransport, server: Counted) {
  const watch = recorder();
  const opened = server.nextWatch();
  const handle = await watchPods(transport, watch.handlers);
  return { watch, handle, response: await opened };
}

const watchPods = (transport: KubeTransport, handlers: WatchHandlers) => transport.watch('pods', { resourceVersion: '1', timeoutSeconds: 60 }, handlers);

const tokenRequest = (audience: string) => ({
  namespace: 'default',
  serviceAccount: 'app',
  pod: { name: 'app-1', uid: 'uid-1' },
  audience,
  expirationSeconds: 600,
});

t.test('over HTTP/2', { skip: !openssl && 'openssl not found' }, async (t) => {
  const pki = await makePki(t.testdir({}));

  t.test('lists, watches, a TokenRequest and the node\'s GET share one TCP connection and one session', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const transport = open(t, server.connection);
    const pods = recorder();
    const namespaces = recorder();
    const [podList, namespaceList, issued, node] = await Promise.all([
      transport.list('pods', { fieldSelector: 'spec.nodeName=node-a', signal: never }),
      transport.list('namespaces', { signal: never }),
      transport.requestToken(tokenRequest('sts.amazonaws.com')),
      transport.getNode('node-a'),
      watchPods(transport, pods.handlers),
      transport.watch('namespaces', { resourceVersion: '1', timeoutSeconds: 60 }, namespaces.handlers),
    ]);
    t.same(podList.items, [{ metadata: { name: '/api/v1/pods' } }]);
    t.same(namespaceList.items, [{ metadata: { name: '/api/v1/namespaces' } }]);
    t.equal(issued.token, 'token-for-sts.amazonaws.com', 'the POST body went over the stream');
    t.same(node, { metadata: { name: 'node-a' } });
    t.equal(server.watches.length, 2, 'both watches are open at once');
    // And a second round on the session already open.
    await transport.list('pods', { signal: never });
    t.equal(server.connections, 1, 'one TCP connection');
    t.equal(server.sessions.length, 1, 'one HTTP/2 session');
    t.same(new Set(server.versions), new Set(['2.0']), 'every request over HTTP/2');
    t.equal(server.versions.length, 7);
    t.equal(server.sessions[0]?.remoteSettings.initialWindowSize, 4 * 1024 * 1024, 'a list may arrive 4 MiB per round trip, not 64 KiB');
  });

  t.test('a GOAWAY lets the open watch end cleanly, and the next request opens a new session', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const transport = open(t, server.connection);
    const { watch, response } = await openWatch(transport, server);
    // As an API server shutting down: GOAWAY, then the watches it was serving end.
    server.sessions[0]?.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await settle();
    response.end();
    t.equal(await watch.done(), null, 'ended as a watch the server closed: the reflector rewatches');
    t.equal(watch.events(), 1);
    await transport.list('pods', { signal: never });
    t.equal(server.sessions.length, 2, 'a new session for the next request');
  });

  t.test('a session whose connection drops ends its watch with an error, and the next request opens a new session', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const transport = open(t, server.connection);
    const { watch } = await openWatch(transport, server);
    server.dropConnections();
    const error = await watch.done();
    t.not(error, null, 'not a clean end');
    t.equal(httpStatusOf(error), undefined, 'no HTTP status: the reflector retries instead of relisting');
    t.same((await transport.list('pods', { signal: never })).resourceVersion, '1');
    t.equal(server.sessions.length, 2);
    t.equal(server.connections, 2);
  });

  t.test('a half-open connection is found by an unanswered PING: its watch ends with ETIMEDOUT and the next request opens a new one', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const relay = await tcpRelay(t, new URL(server.connection.server));
    const time = new FakeTime();
    const transport = open(t, { ...server.connection, server: relay.server }, { clock: time, scheduler: time, requestTimeoutMs: 1000 });
    const { watch } = await openWatch(transport, server);

    // A PING answered keeps the session: the check after a quiet second sends one...
    await time.advance(1000);
    const answered = relay.nextBytesBack();
    await time.advance(1000);
    await within(answered, WAIT_MS, 'the PING\'s answer');
    await settle();
    // ...and the next finds it answered.
    await time.advance(1000);
    t.equal(server.sessions.length, 1, 'the same session');

    // Then the link goes dead without a FIN or RST: nothing comes back.
    relay.freeze();
    await time.advance(1000);
    await time.advance(1000);
    t.match(await watch.done(), { code: 'ETIMEDOUT', message: /no answer to a PING/ });
    t.same((await transport.list('pods', { signal: never })).resourceVersion, '1', 'the next request works, on a new connection');
    t.equal(server.sessions.length, 2);
  });

  t.test('a stream the server resets fails as a reset connection, and the session serves on', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const transport = open(t, server.connection);
    await t.rejects(transport.list('serviceaccounts', { signal: never }), { name: 'TransportError', code: 'ECONNRESET', message: /NGHTTP2_INTERNAL_ERROR/ });
    await transport.list('pods', { signal: never });
    t.equal(server.sessions.length, 1);
  });

  t.test('an aborted list and an aborted watch reset only their own streams', async (t) => {
    const server = await countedServer(t, pki, 'h2');
    const transport = open(t, server.connection);
    const controller = new AbortController();
    controller.abort();
    await t.rejects(transport.list('pods', { signal: controller.signal }), { name: 'AbortError' }, 'aborted before its session is open');
    const { handle } = await openWatch(transport, server);
    handle.abort();
    await transport.list('pods', { signal: never });
    t.equal(server.sessions.length, 1, 'the session lives on');
  });
});

t.test('a server that does not offer h2 is spoken to in HTTP/1.1, without another probe', { skip: !openssl && 'openssl not found' }, async (t) => {
  const pki = await makePki(t.testdir({}));
  const server = await countedServer(t, pki, 'http/1.1');
  const transport = open(t, server.connection);
  await transport.list('pods', { signal: never });
  t.equal(server.connections, 2, 'the handshake that found no h2, then a pooled HTTP/1.1 connection');
  const { watch } = await openWatch(transport, server);
  await transport.list('namespaces', { signal: never });
  t.equal(server.connections, 3, 'one more for the watch (HTTP/1.1 holds a connection per watch), no new probe');
  t.same(new Set(server.versions), new Set(['1.1']));
  server.watches[0]?.end();
  t.equal(await watch.done(), null);
});

t.test('concurrent first requests share one TLS handshake; a handshake that fails is tried again by the next request', { skip: !openssl && 'openssl not found' }, async (t) => {
  const pki = await makePki(t.testdir({}));
  const time = new FakeTime();
  const silent = await silentServer(t);
  const wire = createWire({ server: `https://127.0.0.1:${silent.port}`, ca: pki.ca, insecureSkipTlsVerify: false, source: 'test' }, { timeoutMs: 1000, scheduler: time });
  t.teardown(() => wire.close());
  const failures = [0, 1].map(
    () =>
      new Promise<unknown>((resolve) =>
        wire.send({ method: 'GET', path: '/api/v1/pods', headers: {} }, { answer: () => resolve('answered'), error: resolve }),
      ),
  );
  await within(silent.connected(1), WAIT_MS, 'the first connection');
  await time.advance(1000);
  const errors = await within(Promise.all(failures), WAIT_MS, 'both requests to fail');
  t.match(errors, [{ code: 'ETIMEDOUT', message: /no TLS handshake within 1000 ms/ }, { code: 'ETIMEDOUT' }]);
  t.equal(silent.connections(), 1, 'one handshake for both');
  t.equal(wire.protocol, undefined, 'not known yet');
  const third = new Promise<unknown>((resolve) => {
    const call = wire.send({ method: 'GET', path: '/api/v1/pods', headers: {} }, { answer: () => resolve('answered'), error: resolve });
    void silent.connected(2).then(() => call.destroy());
  });
  t.match(await within(third, WAIT_MS, 'the third request'), { code: 'ECONNRESET', message: /abandoned/ }, 'abandoned while its handshake is under way');
  t.equal(silent.connections(), 2, 'a new handshake');
});

/** A TCP server that accepts and never answers (a TLS handshake that never completes). */
async function silentServer(t: Test) {
  const sockets: Socket[] = [];
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    for (const waiter of waiting.filter((w) => sockets.length >= w.count)) waiter.resolve();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.length,
    connected: (count: number) => new Promise<void>((resolve) => (sockets.length >= count ? resolve() : waiting.push({ count, resolve }))),
  };
}

t.test('a header Node refuses fails its request alone, and a transport closed during its handshake opens no session', { skip: !openssl && 'openssl not found' }, async (t) => {
  const pki = await makePki(t.testdir({}));
  const server = await countedServer(t, pki, 'h2');
  const wire = createWire(server.connection, { timeoutMs: 5000, scheduler: new FakeTime() });
  t.teardown(() => wire.close());
  const send = (headers: Record<string, string>) =>
    within(
      new Promise<unknown>((resolve) => wire.send({ method: 'GET', path: '/api/v1/pods', headers }, { answer: (answer) => resolve(answer.status), error: resolve })),
      WAIT_MS,
      'the request',
    );
  t.match(await send({ authorization: 'Bearer bad\ntoken' }), { code: 'ERR_INVALID_CHAR' }, 'as http.request refuses it');
  t.equal(await send({}), 200, 'the session still serves');
  t.equal(wire.protocol, 'h2');
  t.equal(server.sessions.length, 1);

  const closing = createWire(server.connection, { timeoutMs: 5000, scheduler: new FakeTime() });
  const failed = within(
    new Promise<unknown>((resolve) => closing.send({ method: 'GET', path: '/api/v1/pods', headers: {} }, { answer: () => resolve('answered'), error: resolve })),
    WAIT_MS,
    'the request on the closed transport',
  );
  closing.close();
  t.match(await failed, { code: 'ECONNRESET', message: /the transport is closed/ });
  t.equal(server.sessions.length, 1, 'no session for the closed transport');
});
