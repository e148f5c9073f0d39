import { once } from 'node:events';
import { mkdtempSync, renameSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createGzip, gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import type { KubeConnection } from '../../../src/kube/api/connection.js';
import { createHttpTransport, type HttpTransportOptions } from '../../../src/kube/api/http-transport.js';
import { httpStatusOf, type KubeTransport, type WatchHandle, type WatchHandlers } from '../../../src/kube/api/transport-types.js';
import { parsePod, statusCodeOf } from '../../../src/kube/parse.js';
import { fakeKubeApi, makePod, within, type FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { encodeObject, encodeWatchFrame } from '../../helpers/k8s-protobuf.js';
import { FakeTime, settle } from '../../helpers/fake-time.js';
import { freePort } from '../../helpers/free-port.js';
import { hasOpenssl, makePki, type Pki } from '../../helpers/pki.js';

const WAIT_MS = 5000;
const openssl = await hasOpenssl();
const never = new AbortController().signal;

function open(t: Test, connection: KubeConnection, options: HttpTransportOptions = {}): KubeTransport {
  const transport = createHttpTransport(connection, options);
  t.teardown(() => transport.close?.());
  return transport;
}

/** A connection to `server` with nothing else set (no token, system CAs). */
function plain(server: string, settings: Partial<KubeConnection> = {}): KubeConnection {
  return { server, insecureSkipTlsVerify: false, source: 'test', ...settings };
}

const listPods = (transport: KubeTransport) => transport.list('pods', { signal: never });

/** What these tests read of a listed or watched object. */
interface KubeObject {
  metadata: { name?: string; annotations?: Record<string, string>; resourceVersion?: string; creationTimestamp?: unknown };
}

interface Event {
  type: string;
  object: KubeObject;
}

/** WatchHandlers that record what they are told; `done` resolves with done's argument. */
function recorder() {
  const events: Event[] = [];
  const waiting: Array<(event: Event) => void> = [];
  let doneCalls = 0;
  let resolveDone!: (error: unknown) => void;
  const done = new Promise<unknown>((resolve) => {
    resolveDone = resolve;
  });
  const handlers: WatchHandlers = {
    event(type, object) {
      const event = { type, object: object as KubeObject };
      const waiter = waiting.shift();
      if (waiter) waiter(event);
      else events.push(event);
    },
    done(error) {
      doneCalls++;
      resolveDone(error);
    },
  };
  return {
    handlers,
    events,
    get doneCalls() {
      return doneCalls;
    },
    done: (what = 'done') => within(done, WAIT_MS, what),
    next: (what = 'a watch event') => {
      const event = events.shift();
      return event ? Promise.resolve(event) : within(new Promise<Event>((resolve) => waiting.push(resolve)), WAIT_MS, what);
    },
  };
}

/** Starts a pods watch from `resourceVersion` with a fresh recorder, once watch() has resolved. */
async function watchFrom(transport: KubeTransport, resourceVersion: string) {
  const w = recorder();
  await within(transport.watch('pods', { resourceVersion, timeoutSeconds: 60 }, w.handlers), WAIT_MS, 'watch to resolve');
  return w;
}

/** A pods watch from the stand-in's current resourceVersion, once the stand-in has the request. */
async function watchOpen(api: FakeKubeApi, transport: KubeTransport, handlers: WatchHandlers, what = 'the watch'): Promise<WatchHandle> {
  const opened = api.nextRequest('watch', 'pods');
  const handle = await transport.watch('pods', { resourceVersion: api.resourceVersion, timeoutSeconds: 60 }, handlers);
  await within(opened, WAIT_MS, what);
  return handle;
}

/** A watch from a resourceVersion the stand-in has expired, which it reports `as` an HTTP status or an ERROR event. */
async function watchExpired(t: Test, as: 'http' | 'event') {
  const api = await fakeKubeApi(t);
  api.upsert(makePod({ name: 'a', ip: '10.0.0.1' }));
  api.expireHistory({ as });
  return watchFrom(open(t, api.connection()), '1000');
}

/** A pods list the stand-in leaves unanswered, once the stand-in has the request; `settled` says whether it has ended. */
async function unansweredList(t: Test, signal: AbortSignal, options: HttpTransportOptions = {}) {
  const api = await fakeKubeApi(t);
  api.listDelayMs = 60_000;
  const transport = open(t, api.connection(), options);
  const arrived = api.nextRequest('list', 'pods');
  const listing = transport.list('pods', { signal });
  let settled = false;
  listing.catch(() => undefined).finally(() => (settled = true));
  await within(arrived, WAIT_MS, 'the list request');
  return { listing, settled: () => settled };
}

/** Serves on a loopback port until the test ends; returns the port. */
async function listen(t: Test, server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

const PROTOCOLS = ['http/1.1', 'h2'] as const;
type Protocol = (typeof PROTOCOLS)[number];

let sharedPki: Promise<Pki> | undefined;
/** One CA and serving certificate for every h2 server of this file. */
function testPki(): Promise<Pki> {
  if (sharedPki === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'corridor-h2-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    sharedPki = makePki(dir);
  }
  return sharedPki;
}

/**
 * A server whose handler the test writes, for answers the stand-in never gives: plain HTTP/1.1,
 * or HTTP/2 over TLS (node:http2's compatibility API takes the same handler). Returns a connection to it.
 */
async function scriptedServer(t: Test, protocol: Protocol, handler: http.RequestListener): Promise<KubeConnection> {
  if (protocol === 'http/1.1') return plain(`http://127.0.0.1:${await listen(t, http.createServer(handler))}`);
  const pki = await testPki();
  const url = await serveTls(t, 'h2', { cert: pki.serverCert, key: pki.serverKey }, handler);
  return plain(url, { ca: pki.ca });
}

/** A TLS server on loopback, HTTP/1.1 (https) or HTTP/2 (node:http2, same handler), until the test ends; returns its URL. */
async function serveTls(t: Test, protocol: Protocol, options: https.ServerOptions, handler: http.RequestListener): Promise<string> {
  const server =
    protocol === 'h2'
      ? http2.createSecureServer(options, handler as unknown as (request: Http2ServerRequest, response: Http2ServerResponse) => void)
      : https.createServer(options, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Registers `name` once per protocol, as `name (protocol)`. */
function eachProtocol(name: string, body: (t: Test, protocol: Protocol) => Promise<void>): void {
  for (const protocol of PROTOCOLS) t.test(`${name} (${protocol})`, { skip: protocol === 'h2' && !openssl && 'openssl not found' }, (t) => body(t, protocol));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('list returns the raw items and resourceVersion, sending the field selector and resourceVersion', async (t) => {
  const api = await fakeKubeApi(t, {
    objects: [makePod({ name: 'a', ip: '10.0.0.1' }), makePod({ name: 'b', ip: '10.0.0.2', nodeName: 'node-b' })],
  });
  const transport = open(t, api.connection());
  const request = api.nextRequest('list', 'pods');
  const list = await transport.list('pods', { fieldSelector: 'spec.nodeName=node-a', resourceVersion: '0', signal: never });
  const pods = list.items as KubeObject[];
  t.same(pods.map((pod) => pod.metadata.name), ['a']);
  t.equal(typeof pods[0]?.metadata.creationTimestamp, 'string', 'plain JSON, not client-node models');
  t.equal(list.resourceVersion, api.resourceVersion);
  const query = (await request).query;
  t.equal(query.get('fieldSelector'), 'spec.nodeName=node-a');
  t.equal(query.get('resourceVersion'), '0');
  const consistent = api.nextRequest('list', 'namespaces');
  t.same((await transport.list('namespaces', { signal: never })).items, []);
  t.equal((await consistent).query.get('resourceVersion'), null, 'no resourceVersion: a consistent read');
  t.same((await transport.list('serviceaccounts', { signal: never })).items, []);
});

t.test('a watch delivers ADDED, MODIFIED, DELETED and BOOKMARK events, asking for bookmarks from the given resourceVersion', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, api.connection());
  const w = recorder();
  const request = api.nextRequest('watch', 'pods');
  await transport.watch('pods', { fieldSelector: 'spec.nodeName=node-a', resourceVersion: api.resourceVersion, timeoutSeconds: 300 }, w.handlers);
  const query = (await within(request, WAIT_MS, 'the watch request')).query;
  t.same(
    Object.fromEntries(['watch', 'allowWatchBookmarks', 'timeoutSeconds', 'fieldSelector', 'resourceVersion'].map((k) => [k, query.get(k)])),
    { watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: '300', fieldSelector: 'spec.nodeName=node-a', resourceVersion: api.resourceVersion },
  );
  api.upsert(makePod({ name: 'a', ip: '10.0.0.1' }));
  api.modifyPod('default', 'a', (pod) => {
    pod.metadata.annotations = { k: 'v' };
  });
  api.upsert(makePod({ name: 'elsewhere', ip: '10.0.0.9', nodeName: 'node-b' }));
  api.deletePod('default', 'a');
  api.sendBookmark();
  const seen = [await w.next(), await w.next(), await w.next(), await w.next()];
  t.same(seen.map((e) => [e.type, e.object.metadata.name ?? null]), [['ADDED', 'a'], ['MODIFIED', 'a'], ['DELETED', 'a'], ['BOOKMARK', null]]);
  t.same(seen[1]?.object.metadata.annotations, { k: 'v' });
  t.equal(seen[3]?.object.metadata.resourceVersion, api.resourceVersion);
  t.equal(w.doneCalls, 0);
});

eachProtocol('events split across chunks reach the handler whole, and a last event without a newline comes before done(null)', async (t, protocol) => {
  const first = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'grüße-🚀', resourceVersion: '5' } } });
  const second = JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'b', resourceVersion: '6' } } });
  const bytes = Buffer.from(`${first}\n${second}`);
  const server = await scriptedServer(t, protocol, (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    void (async () => {
      // Cut inside the first event's multi-byte characters, and inside the second event.
      for (const [from, to] of [[0, 30], [30, 33], [33, first.length + 10], [first.length + 10, bytes.length]] as const) {
        response.write(bytes.subarray(from, to));
        await pause(15);
      }
      response.end();
    })();
  });
  const w = await watchFrom(open(t, server), '4');
  t.equal(await w.done(), null, 'a clean end');
  t.same(w.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'grüße-🚀'], ['MODIFIED', 'b']]);
});

eachProtocol('a malformed line ends the watch with an error', async (t, protocol) => {
  const server = await scriptedServer(t, protocol, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"type":"ADDED","object":{}}\nthis is not json\n{"type":"ADDED","object":{}}\n');
  });
  const w = await watchFrom(open(t, server), '1');
  const error = await w.done();
  t.match(error, { code: 'EBADRESPONSE', message: /malformed watch event: this is not json/ });
  t.equal(w.events.length, 1, 'nothing after the bad line');
});

t.test('a handler that throws ends its watch with that error, instead of crashing the process', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, api.connection());
  const w = recorder();
  const bug = new Error('handler bug');
  await watchOpen(api, transport, { event: () => { throw bug; }, done: (error) => w.handlers.done(error) });
  api.upsert(makePod({ name: 'a', ip: '10.0.0.1' }));
  t.equal(await w.done(), bug);
});

t.test('410 Gone as an HTTP status ends the watch with statusCode 410', async (t) => {
  const w = await watchExpired(t, 'http');
  const error = await w.done();
  t.equal(httpStatusOf(error), 410, 'the reflector reads 410 and relists');
  t.match(error, { reason: 'Expired', message: /HTTP 410 Expired: too old resource version/ });
  t.same(w.events, []);
});

t.test('410 Gone as an ERROR event is passed to the handler, then the stream ends cleanly', async (t) => {
  const w = await watchExpired(t, 'event');
  t.equal(await w.done(), null);
  t.match(w.events, [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }]);
});

t.test('a stream the server closes ends with done(null), once', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, api.connection());
  const w = recorder();
  await watchOpen(api, transport, w.handlers);
  api.closeWatches();
  t.equal(await w.done(), null);
  t.equal(w.doneCalls, 1);
});

t.test('a connection cut mid-stream ends the watch with an error', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, api.connection());
  const w = recorder();
  await watchOpen(api, transport, w.handlers);
  api.setDown(true, 'reset');
  const error = await w.done();
  t.not(error, null);
  t.match(error, { code: 'ECONNRESET' });
});

t.test('with nothing listening, list and watch fail with the socket error code', async (t) => {
  // A port that was free a moment ago: nothing listens on it.
  const transport = open(t, plain(`http://127.0.0.1:${await freePort()}`));
  await t.rejects(listPods(transport), { code: 'ECONNREFUSED' });
  const w = await watchFrom(transport, '1');
  t.match(await w.done(), { code: 'ECONNREFUSED' });
  t.equal(httpStatusOf(await w.done()), undefined, 'no HTTP status: the reflector retries instead of relisting');
});

t.test('an API server shedding load answers 503, seen as statusCode 503', async (t) => {
  const api = await fakeKubeApi(t);
  api.setDown(true, 'unavailable');
  const transport = open(t, api.connection());
  await t.rejects(listPods(transport), { name: 'KubeApiError', statusCode: 503, reason: 'ServiceUnavailable' });
  const w = await watchFrom(transport, '1');
  t.equal(httpStatusOf(await w.done()), 503);
});

t.test('abort ends a watch without calling done, and nothing is delivered after it', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, api.connection());
  const aborted = recorder();
  const handle = await watchOpen(api, transport, aborted.handlers);
  handle.abort();
  // A second watch sees the pod: by then the first one would have too, were it still open.
  const marker = recorder();
  await watchOpen(api, transport, marker.handlers, 'the second watch');
  api.upsert(makePod({ name: 'after-abort', ip: '10.0.0.3' }));
  t.equal((await marker.next()).object.metadata.name, 'after-abort');
  t.same(aborted.events, []);
  t.equal(aborted.doneCalls, 0, 'done is not called for an abort');
  handle.abort();
  t.equal(aborted.doneCalls, 0, 'a second abort is harmless');
});

t.test('a list is cancelled by its AbortSignal', async (t) => {
  const controller = new AbortController();
  const { listing } = await unansweredList(t, controller.signal);
  controller.abort();
  await t.rejects(listing, { name: 'AbortError' });
});

t.test('a list with no answer within the request timeout fails with ETIMEDOUT', async (t) => {
  const time = new FakeTime();
  const { listing, settled } = await unansweredList(t, never, { scheduler: time, clock: time, requestTimeoutMs: 1000 });
  await time.advance(999);
  t.notOk(settled(), 'still waiting just before the timeout');
  await time.advance(1);
  await t.rejects(listing, { code: 'ETIMEDOUT' });
});

t.test('a refused token is an error with statusCode 401 and the server\'s reason', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, { ...api.connection(), token: 'wrong' });
  await t.rejects(listPods(transport), { statusCode: 401, reason: 'Unauthorized', message: /list pods: HTTP 401 Unauthorized/ });
});

t.test('a rotated token file is used for the next request', async (t) => {
  const api = await fakeKubeApi(t);
  const dir = t.testdir({ token: 'token-one\n' });
  const tokenFile = join(dir, 'token');
  api.token = 'token-one';
  const transport = open(t, plain(api.url, { tokenFile }));
  t.equal((await listPods(transport)).resourceVersion, api.resourceVersion);
  // As the kubelet rotates a projected token: a new file swapped in.
  writeFileSync(join(dir, 'token.new'), 'token-two-rotated\n');
  renameSync(join(dir, 'token.new'), tokenFile);
  api.token = 'token-two-rotated';
  t.equal((await listPods(transport)).resourceVersion, api.resourceVersion, 'the new token was sent');
});

t.test('a token file is read again every minute even when stat shows no change, and at once after a 401', async (t) => {
  const api = await fakeKubeApi(t);
  const dir = t.testdir({ token: 'token-aaaa' });
  const tokenFile = join(dir, 'token');
  // Same inode, same size, same mtime: invisible to stat.
  const rewrite = (value: string) => {
    writeFileSync(tokenFile, value);
    utimesSync(tokenFile, 1_700_000_000, 1_700_000_000);
  };
  rewrite('token-aaaa');
  api.token = 'token-aaaa';
  const time = new FakeTime();
  const transport = open(t, plain(api.url, { tokenFile }), { clock: time, scheduler: time });
  await listPods(transport);

  rewrite('token-bbbb');
  await listPods(transport);
  t.pass('within the minute the cached token is sent (the server still takes token-aaaa)');
  api.token = 'token-bbbb';
  await time.advance(60_000);
  await listPods(transport);
  t.pass('after a minute the file is read again');

  rewrite('token-cccc');
  api.token = 'token-cccc';
  await t.rejects(listPods(transport), { name: 'KubeApiError', statusCode: 401 });
  await listPods(transport);
  t.pass('a 401 makes the next request read the file again');
  t.equal(readFileSync(tokenFile, 'utf8'), 'token-cccc');
});

t.test('a missing token file is a clear error', async (t) => {
  const api = await fakeKubeApi(t);
  const transport = open(t, plain(api.url, { tokenFile: '/nonexistent/token' }));
  await t.rejects(listPods(transport), /cannot read token file \/nonexistent\/token/);
});

// ---- TLS ----

eachProtocol('over https: the CA, the client certificate and tls-server-name are used; insecure-skip-tls-verify skips server verification', async (t, protocol) => {
  const pki = await makePki(t.testdir({}));
  const clients: string[] = [];
  const options = { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true };
  const url = await serveTls(t, protocol, options, (request, response) => {
    clients.push(String((request.socket as TLSSocket).getPeerCertificate().subject?.CN));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}');
  });
  const listWith = (settings: Partial<KubeConnection>) => listPods(open(t, plain(url, settings)));
  const client = { cert: pki.clientCert, key: pki.clientKey };

  t.equal((await listWith({ ...client, ca: pki.ca })).resourceVersion, '7');
  t.same(clients, ['corridor-test-client'], 'the client certificate was presented');
  await t.rejects(listWith(client), { code: /CERT|SIGNATURE|ISSUER/ }, 'an unknown CA is refused');
  await t.rejects(listWith({ ...client, ca: pki.ca, tlsServerName: 'other.invalid' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'the certificate is checked against tls-server-name');
  t.equal((await listWith({ ...client, insecureSkipTlsVerify: true })).resourceVersion, '7');
  await t.rejects(listWith({ ca: pki.ca }), 'without a client certificate the server refuses');
});

/** A JSON document as the API server sends one when the client asked for gzip. */
function gzipped(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'content-encoding': 'gzip', ...headers }).end(gzipSync(JSON.stringify(body)));
}

eachProtocol('a list asks for gzip and reads a gzipped answer; limit, resourceVersionMatch and continue go on the query', async (t, protocol) => {
  const seen: Array<{ query: URLSearchParams; encoding: string | undefined }> = [];
  const server = await scriptedServer(t, protocol, (request, response) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    seen.push({ query, encoding: request.headers['accept-encoding'] });
    const page = query.get('continue') === null ? { items: [{ metadata: { name: 'a' } }], token: 'next-page' } : { items: [{ metadata: { name: 'b' } }], token: '' };
    gzipped(response, 200, { kind: 'NamespaceList', metadata: { resourceVersion: '70', continue: page.token }, items: page.items });
  });
  const transport = open(t, server);
  const first = await transport.list('namespaces', { resourceVersion: '60', resourceVersionMatch: 'NotOlderThan', limit: 500, signal: never });
  t.same(first, { items: [{ metadata: { name: 'a' } }], resourceVersion: '70', continue: 'next-page' });
  const second = await transport.list('namespaces', { resourceVersion: '60', resourceVersionMatch: 'NotOlderThan', limit: 500, continue: 'next-page', signal: never });
  t.same(second, { items: [{ metadata: { name: 'b' } }], resourceVersion: '70' }, 'an empty continue is the last page');
  t.equal(seen[0]?.encoding, 'gzip');
  t.same(Object.fromEntries(seen[0]?.query ?? []), { limit: '500', resourceVersion: '60', resourceVersionMatch: 'NotOlderThan' });
  t.same(Object.fromEntries(seen[1]?.query ?? []), { limit: '500', continue: 'next-page' }, 'the token alone: a resourceVersion beside it is a 400');
});

eachProtocol('a gzipped watch delivers each event as its bytes arrive, before the stream ends', async (t, protocol) => {
  let release: () => void = () => {};
  const server = await scriptedServer(t, protocol, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    const gzip = createGzip();
    gzip.pipe(response);
    // As the API server's gzip writer does: a flush after every event.
    gzip.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'first', resourceVersion: '8' } } })}\n`);
    gzip.flush();
    release = () => {
      gzip.end(`${JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'first', resourceVersion: '9' } } })}\n`);
    };
  });
  const w = await watchFrom(open(t, server), '7');
  const first = await w.next('the first event, while the stream is open');
  t.same([first.type, first.object.metadata.resourceVersion], ['ADDED', '8']);
  t.equal(w.doneCalls, 0, 'the stream is still open');
  release();
  t.equal((await w.next('the second event')).object.metadata.resourceVersion, '9');
  t.equal(await w.done(), null);
});

eachProtocol('a corrupt gzip body fails a list and a watch with EBADRESPONSE', async (t, protocol) => {
  const server = await scriptedServer(t, protocol, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('this is not gzip');
  });
  const transport = open(t, server);
  await t.rejects(listPods(transport), { code: 'EBADRESPONSE', message: /corrupt gzip body/ });
  const w = await watchFrom(transport, '1');
  t.match(await w.done(), { code: 'EBADRESPONSE' });
});

eachProtocol('429 and 503 answers carry Retry-After (seconds or an HTTP date) for lists, watches and the node\'s GET and PATCH', async (t, protocol) => {
  const time = new FakeTime();
  const server = await scriptedServer(t, protocol, (request, response) => {
    const status = { kind: 'Status', status: 'Failure', reason: 'TooManyRequests', message: 'too many requests, please try again later', code: 429 };
    if (request.method === 'PATCH') return gzipped(response, 503, { ...status, reason: 'ServiceUnavailable', code: 503 }, { 'retry-after': new Date(time.now() + 7000).toUTCString() });
    // Large enough that the API server would gzip it too.
    gzipped(response, 429, status, { 'retry-after': '2' });
  });
  const transport = open(t, server, { clock: time, scheduler: time });
  await t.rejects(listPods(transport), { statusCode: 429, retryAfterMs: 2000, reason: 'TooManyRequests', message: /HTTP 429 TooManyRequests: too many requests/ });
  const w = await watchFrom(transport, '1');
  t.match(await w.done(), { statusCode: 429, retryAfterMs: 2000 });
  await t.rejects(transport.getNode('node-a'), { name: 'KubeApiError', statusCode: 429, retryAfterMs: 2000 });
  await t.rejects(transport.patchNode('node-a', []), { name: 'KubeApiError', statusCode: 503, retryAfterMs: 7000 });
});

eachProtocol('a gzipped error answer cut off mid-body fails its list and ends its watch instead of waiting forever', async (t, protocol) => {
  const cut = gzipSync(JSON.stringify({ kind: 'Status', reason: 'TooManyRequests', message: 'x'.repeat(2000), code: 429 })).subarray(0, 40);
  const server = await scriptedServer(t, protocol, (_request, response) => {
    response.writeHead(429, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'retry-after': '1' });
    response.write(cut, () => {
      // The connection lost mid-body: the socket (HTTP/1.1) or the stream (HTTP/2) reset.
      const h2 = response as unknown as Partial<Http2ServerResponse>;
      if (h2.stream !== undefined) h2.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else response.socket?.destroy();
    });
  });
  const transport = open(t, server);
  await t.rejects(listPods(transport), { code: 'ECONNRESET' });
  const w = await watchFrom(transport, '1');
  t.not(await w.done(), null, 'the watch ends, with an error');
});

/** A list answer the test writes chunk by chunk, on the fake clock: how a large list on a slow link arrives. */
async function tricklingList(t: Test, protocol: Protocol) {
  const time = new FakeTime();
  let response: http.ServerResponse | undefined;
  let arrived: () => void = () => {};
  const request = new Promise<void>((resolve) => (arrived = resolve));
  const server = await scriptedServer(t, protocol, (_request, res) => {
    response = res;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":[');
    arrived();
  });
  const transport = open(t, server, { clock: time, scheduler: time, requestTimeoutMs: 1000 });
  let settled = false;
  const listing = listPods(transport);
  listing.catch(() => undefined).finally(() => (settled = true));
  await within(request, WAIT_MS, 'the list request');
  await settle();
  /** Writes `text` and lets the transport read it. */
  const send = async (text: string, end = false) => {
    const res = response;
    if (res === undefined) throw new Error('no response yet');
    await new Promise<void>((resolve) => (end ? res.end(text, resolve) : res.write(text, () => resolve())));
    await settle();
  };
  return { time, listing, send, settled: () => settled };
}

eachProtocol('a list that keeps arriving for many times the request timeout is not cut off: the timeout bounds silence, not size', async (t, protocol) => {
  const { time, listing, send } = await tricklingList(t, protocol);
  for (let i = 0; i < 10; i++) {
    await time.advance(600);
    await send(`${i === 0 ? '' : ','}{"metadata":{"name":"pod-${i}"}}`);
  }
  await time.advance(600);
  await send(']}', true);
  const list = await within(listing, WAIT_MS, 'the list');
  t.equal(list.items.length, 10, 'all of it, after 6.6 s of a 1 s timeout');
});

eachProtocol('a list whose server goes silent mid-body fails with ETIMEDOUT once nothing came for the request timeout', async (t, protocol) => {
  const { time, listing, send, settled } = await tricklingList(t, protocol);
  await time.advance(600);
  await send('{"metadata":{"name":"pod-0"}}');
  await time.advance(999);
  t.notOk(settled(), 'still waiting just before a whole timeout of silence');
  await time.advance(1);
  await t.rejects(listing, { code: 'ETIMEDOUT', message: /nothing received for 1000 ms/ });
});

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

eachProtocol('lists and watches ask for protobuf first; a protobuf answer (gzipped, in frames cut anywhere) reads as its JSON would', async (t, protocol) => {
  const pods = [makePod({ name: 'driver', namespace: 'gha', uid: 'u-1', ip: '10.0.0.7', annotations: { 'iam.amazonaws.com/role': 'spark-etl' } })];
  const accepts: Array<string | undefined> = [];
  const frames = Buffer.concat([
    encodeWatchFrame('ADDED', 'Pod', pods[0] as Record<string, unknown>),
    encodeWatchFrame('BOOKMARK', 'Pod', { metadata: { resourceVersion: '12' } }),
    encodeWatchFrame('ERROR', 'Status', { code: 410, reason: 'Expired', message: 'too old resource version' }),
  ]);
  const server = await scriptedServer(t, protocol, (request, response) => {
    accepts.push(request.headers.accept);
    if (!new URL(request.url ?? '/', 'http://x').searchParams.has('watch')) {
      response.writeHead(200, { 'content-type': PROTOBUF, 'content-encoding': 'gzip' }).end(gzipSync(encodeObject('PodList', { metadata: { resourceVersion: '11' }, items: pods })));
      return;
    }
    response.writeHead(200, { 'content-type': `${PROTOBUF};stream=watch` });
    void (async () => {
      // Cut inside the first frame's length, inside its body, and between frames.
      for (const [from, to] of [[0, 2], [2, 40], [40, frames.length - 5], [frames.length - 5, frames.length]] as const) {
        response.write(frames.subarray(from, to));
        await pause(15);
      }
      response.end();
    })();
  });
  const transport = open(t, server);
  const list = await listPods(transport);
  t.same(list.items.map(parsePod), pods.map(parsePod));
  t.equal(list.resourceVersion, '11');
  const w = await watchFrom(transport, '11');
  t.equal(await w.done(), null, 'a clean end');
  t.same(w.events.map((e) => e.type), ['ADDED', 'BOOKMARK', 'ERROR']);
  t.same(parsePod(w.events[0]?.object), parsePod(pods[0]));
  t.equal(w.events[1]?.object.metadata.resourceVersion, '12');
  t.equal(statusCodeOf(w.events[2]?.object), 410, 'an ERROR event\'s Status, for the reflector to relist');
  t.same(accepts, [`${PROTOBUF}, application/json`, `${PROTOBUF}, application/json`]);
});

eachProtocol('a protobuf Status answer gives the error its code, reason and message; a bad or oversized frame ends the watch with EBADRESPONSE', async (t, protocol) => {
  let watches = 0;
  const server = await scriptedServer(t, protocol, (request, response) => {
    if (!new URL(request.url ?? '/', 'http://x').searchParams.has('watch')) {
      const status = encodeObject('Status', { status: 'Failure', code: 429, reason: 'TooManyRequests', message: 'too many requests, please try again later' });
      response.writeHead(429, { 'content-type': PROTOBUF, 'retry-after': '3' }).end(status);
      return;
    }
    response.writeHead(200, { 'content-type': `${PROTOBUF};stream=watch` });
    const good = encodeWatchFrame('ADDED', 'Pod', makePod({ name: 'a' }));
    const announced = Buffer.alloc(4);
    announced.writeUInt32BE(65 * 1024 * 1024);
    // The first watch gets a frame whose body is no WatchEvent; the second announces 65 MiB.
    response.write(watches++ === 0 ? Buffer.concat([good, Buffer.from([0, 0, 0, 2, 0x0b, 0x01])]) : Buffer.concat([good, announced]));
  });
  const transport = open(t, server);
  await t.rejects(listPods(transport), { name: 'KubeApiError', statusCode: 429, reason: 'TooManyRequests', retryAfterMs: 3000, message: /HTTP 429 TooManyRequests: too many requests/ });
  const bad = await watchFrom(transport, '1');
  t.match(await bad.done(), { code: 'EBADRESPONSE', message: /malformed watch event: unsupported wire type 3/ });
  t.equal(bad.events.length, 1, 'the good frame before it was delivered');
  const huge = await watchFrom(transport, '1');
  t.match(await huge.done(), { code: 'EBADRESPONSE', message: /longer than 67108864 bytes/ });
});

t.test('with contentType application/json (--kube-api-content-type), lists and watches ask for JSON only', async (t) => {
  const accepts: Array<string | undefined> = [];
  const server = await scriptedServer(t, 'http/1.1', (request, response) => {
    accepts.push(request.headers.accept);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '3' }, items: [] }));
  });
  const transport = open(t, server, { contentType: 'application/json' });
  t.same((await listPods(transport)).items, []);
  const w = await watchFrom(transport, '3');
  await w.done();
  t.same(accepts, ['application/json', 'application/json']);
});
