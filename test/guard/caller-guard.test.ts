import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { createCallerGuard, type CallerGuard, type CallerGuardOptions } from '../../src/guard/index.js';
import { FakeTime } from '../helpers/fake-time.js';
import { within } from '../helpers/fake-kube-api.js';

const request = 'GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n';

function guardWith(time: FakeTime, overrides: Partial<CallerGuardOptions> = {}): CallerGuard {
  return createCallerGuard({
    perSecond: 10,
    burst: 3,
    maxConnectionsPerCaller: 256,
    maxInFlightPerCaller: 64,
    maxConnections: 4096,
    clock: time,
    scheduler: time,
    ...overrides,
  });
}

/** A socket the guard has never seen (as with fastify's inject): only the caller's address counts. */
const unseen = (): Socket => new net.Socket();

t.test('a caller may make its burst at once, then one request per token as its bucket refills', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time);
  const admit = () => guard.admit('10.0.0.7', unseen());
  const serve = (n: number) => Array.from({ length: n }, () => { const a = admit(); if (a === 'serve') guard.finished('10.0.0.7', unseen()); return a; });
  t.same(serve(4), ['serve', 'serve', 'serve', 'limited']);
  await time.advance(100);
  t.same(serve(2), ['serve', 'limited'], 'one token back after 100 ms at 10/s');
  await time.advance(10_000);
  t.same(serve(4), ['serve', 'serve', 'serve', 'limited'], 'never more than the burst');
  guard.close();
});

t.test('a flooding caller keeps its empty bucket however many other callers come and go', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time);
  for (let i = 0; i < 3; i++) guard.admit('10.0.0.66', unseen());
  t.equal(guard.admit('10.0.0.66', unseen()), 'limited');
  // 20,000 other callers, each asking once: more than the table holds.
  for (let i = 0; i < 20_000; i++) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    guard.admit(ip, unseen());
    guard.finished(ip, unseen());
  }
  t.equal(guard.admit('10.0.0.66', unseen()), 'limited', 'the flooder was not forgotten, so its bucket was not refilled');
  t.ok(guard.trackedCallers() <= 16_384, `the table stays bounded (${guard.trackedCallers()} callers)`);
  guard.close();
});

t.test('callers that hold nothing are forgotten once their bucket is full again', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time);
  for (let i = 0; i < 16_384; i++) {
    const ip = `10.2.${i >> 8}.${i & 255}`;
    guard.admit(ip, unseen());
    guard.finished(ip, unseen());
  }
  t.equal(guard.trackedCallers(), 16_384);
  await time.advance(1000);
  t.equal(guard.admit('10.3.0.1', unseen()), 'serve', 'a new caller is served when the table is full of idle ones');
  t.ok(guard.trackedCallers() < 100, `the idle callers were forgotten (${guard.trackedCallers()} left)`);
  guard.close();
});

t.test('a caller with too many requests in flight is limited until one finishes, whatever its rate', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { perSecond: 0, maxInFlightPerCaller: 2 });
  const socket = unseen();
  t.equal(guard.admit('10.0.0.7', socket), 'serve');
  t.equal(guard.admit('10.0.0.7', socket), 'serve');
  t.equal(guard.admit('10.0.0.7', socket), 'limited', 'a third waiting request is refused');
  t.equal(guard.admit('10.0.0.8', unseen()), 'serve', 'another caller is not affected');
  guard.finished('10.0.0.7', socket);
  t.equal(guard.admit('10.0.0.7', socket), 'serve', 'served again once one has finished');
  guard.close();
});

t.test('exempt callers (the node itself) are never limited', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { exempt: (ip) => ip === '127.0.0.1' });
  for (let i = 0; i < 100; i++) t.equal(guard.admit('127.0.0.1', unseen()), 'serve', `request ${i}`, { diagnostic: false });
  guard.close();
});

// ---- over real sockets ----
// No fixed pauses: each step waits for the event it needs (the server accepting or closing a
// connection, an answer arriving), within a deadline that names what it waited for.

const WAIT_MS = 5000;

interface Served {
  url: { port: number };
  /** Answers sent, by caller address. */
  answered: Map<string, number>;
  /** Resolves with the server's side of every connection from `source` once it has accepted `n` of them. */
  accepted: (source: string, n: number) => Promise<Socket[]>;
  close(): Promise<void>;
}

/** A node:http server behind the guard, answering as the metadata server does. */
async function serve(t: Test, guard: CallerGuard): Promise<Served> {
  const answered = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const ip = req.socket.remoteAddress ?? '';
    const admission = guard.admit(ip, req.socket);
    if (admission === 'drop') return;
    if (admission === 'limited') {
      res.writeHead(429, { connection: 'close', 'retry-after': '1', 'content-length': '17' }).end('Too Many Requests');
      return;
    }
    answered.set(ip, (answered.get(ip) ?? 0) + 1);
    res.writeHead(200, { 'content-length': '2' }).end('ok');
    guard.finished(ip, req.socket);
  });
  guard.attach(server);
  // Added after the guard's own listener, so a connection seen here has been counted (or refused) by it.
  const sockets: Array<{ socket: Socket; source: string | undefined }> = [];
  let arrived = () => {};
  server.on('connection', (socket: Socket) => {
    sockets.push({ socket, source: socket.remoteAddress });
    arrived();
  });
  const accepted = async (source: string, n: number) => {
    const from = () => sockets.filter((s) => s.source === source).map((s) => s.socket);
    while (from().length < n) await new Promise<void>((resolve) => (arrived = resolve));
    return from();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  t.teardown(close);
  return { url: { port }, answered, accepted: (source, n) => within(accepted(source, n), WAIT_MS, `${n} connections from ${source}`), close };
}

/** The guard pauses a held connection on the tick after the server accepts it. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Resolves once the server has closed its side of every one of `sockets` (the guard has let them go). */
const released = (sockets: Socket[]) =>
  within(Promise.all(sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve()))))), WAIT_MS, 'the server to close its side');

/** A client connection that pipelines `depth` requests at once and counts answers by status. */
function pipeliner(port: number, source: string, depth: number) {
  const statuses: string[] = [];
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: source });
  let text = '';
  let heard = () => {};
  socket.on('connect', () => socket.write(request.repeat(depth)));
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    for (let at = text.indexOf('HTTP/1.1 '); at !== -1 && at + 12 <= text.length; at = text.indexOf('HTTP/1.1 ')) {
      statuses.push(text.slice(at + 9, at + 12));
      text = text.slice(at + 12);
    }
    heard();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  /** Resolves once `n` answers have arrived on this connection. */
  const answers = async (n: number) => {
    while (statuses.length < n) await new Promise<void>((resolve) => (heard = resolve));
  };
  return { socket, statuses, closed, answers: (n: number) => within(answers(n), WAIT_MS, `${n} answers to ${source}`) };
}

function get(port: number, source: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', localAddress: source, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(2000, () => req.destroy(new Error('no answer in 2 s')));
    req.on('error', reject);
  });
}

t.test('a pod over its rate is not read any more: one 429 per connection it used, nothing at line rate, other pods answered at once', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { perSecond: 10, burst: 5 });
  const { url, answered, accepted } = await serve(t, guard);
  // The first connection spends the burst and is closed at its first request over it.
  const first = pipeliner(url.port, '127.0.0.66', 50);
  await first.closed;
  t.same(first.statuses.slice(0, 6), ['200', '200', '200', '200', '200', '429'], 'the burst, then one 429');
  t.equal(first.statuses.length, 6, 'nothing it pipelined after the 429 was answered');
  // Its next connections are held unread while its bucket is empty.
  const held = Array.from({ length: 8 }, () => pipeliner(url.port, '127.0.0.66', 50));
  const heldOnServer = (await accepted('127.0.0.66', 9)).slice(1);
  await nextTurn();
  t.same(heldOnServer.map((s) => s.isPaused()), Array(8).fill(true), 'the server reads none of the held connections');
  t.equal(await get(url.port, '127.0.0.67'), 200, 'another pod is served meanwhile');
  t.same(held.map((c) => c.statuses), Array(8).fill([]), 'held connections get no answer, not even 429');
  // A tenth of a second later (fake time), one connection is let through on the refilled tokens:
  // its first request is served, the next one is over budget and gets 429 with Connection: close.
  await time.advance(100);
  await within(Promise.race(held.map((c) => c.closed)), WAIT_MS, 'the released connection to be answered and closed');
  const answers = held.reduce((sum, c) => sum + c.statuses.length, 0);
  t.ok(answers >= 1 && answers <= 2, `one held connection was released: ${answers} answers (one token, then a 429)`);
  t.equal(answered.get('127.0.0.66'), 6, 'served in all: the burst and one refilled token');
  for (const c of held) c.socket.destroy();
  guard.close();
});

t.test('a pod that went quiet gets all its connections back once its bucket is full', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { perSecond: 10, burst: 5 });
  const { url, accepted } = await serve(t, guard);
  const first = pipeliner(url.port, '127.0.0.70', 6);
  await first.closed;
  // Three idle keep-alive connections opened while it was over budget, each with one request.
  const idle = Array.from({ length: 3 }, () => pipeliner(url.port, '127.0.0.70', 1));
  const idleOnServer = (await accepted('127.0.0.70', 4)).slice(1);
  await nextTurn();
  t.same(idleOnServer.map((s) => s.isPaused()), [true, true, true], 'the server reads none of them');
  t.same(idle.map((c) => c.statuses.length), [0, 0, 0], 'held while over budget');
  await time.advance(1000);
  await Promise.all(idle.map((c) => c.answers(1)));
  t.same(idle.map((c) => c.statuses), [['200'], ['200'], ['200']], 'all released and answered');
  for (const c of idle) c.socket.destroy();
  guard.close();
});

t.test('connections past the total cap are closed at once; exempt callers still connect', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { perSecond: 0, maxConnections: 3, maxConnectionsPerCaller: 2, exempt: (ip) => ip === '127.0.0.1' });
  const { url, accepted } = await serve(t, guard);
  const open = (source: string) => {
    const socket = net.connect({ host: '127.0.0.1', port: url.port, localAddress: source });
    socket.on('error', () => undefined);
    return socket;
  };
  const sockets = [open('127.0.0.81'), open('127.0.0.81'), open('127.0.0.82')];
  const counted = [...(await accepted('127.0.0.81', 2)), ...(await accepted('127.0.0.82', 1))];
  const over = [open('127.0.0.81'), open('127.0.0.83')];
  await Promise.all(over.map((s) => new Promise((resolve) => s.once('close', resolve))));
  t.pass('a third connection from one caller and a fourth in all were closed');
  t.equal(await get(url.port, '127.0.0.1'), 200, 'the node itself still connects');
  for (const s of sockets) s.destroy();
  await released(counted);
  t.equal(await get(url.port, '127.0.0.83'), 200, 'room again once connections closed');
  guard.close();
});

t.test('an exempt caller (localhost) is not rate limited but still holds a bounded number of connections', async (t) => {
  const time = new FakeTime();
  const guard = guardWith(time, { perSecond: 1, burst: 1, exempt: (ip) => ip === '127.0.0.1', maxConnectionsPerExempt: 3 });
  const { url, accepted } = await serve(t, guard);
  const sockets = Array.from({ length: 5 }, () => {
    const socket = net.connect({ host: '127.0.0.1', port: url.port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    return socket;
  });
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await Promise.all(sockets.slice(3).map((s) => new Promise((resolve) => s.once('close', resolve))));
  t.pass('the 4th and 5th connection were closed');
  const onServer = await accepted('127.0.0.1', 5);
  for (const s of sockets.slice(0, 3)) s.destroy();
  await released(onServer);
  for (let i = 0; i < 5; i++) t.equal(await get(url.port, '127.0.0.1'), 200, `request ${i}: no rate limit`);
  guard.close();
});
