import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createMetadataUpstream, type UpstreamAnswer } from '../../src/node-metadata/index.js';
import { FakeTime } from '../helpers/fake-time.js';

// Passthrough over real loopback sockets against an IMDS that hangs, is slow,
// forgets its tokens or does not do IMDSv2. Deadlines here are real and short; the slack allows
// for a loaded 2-core machine, and is far below what an unbounded queue costs.
const SLACK_MS = 250;

interface FakeImds {
  url: string;
  puts: number;
  tokensIssued: number;
  gets: Array<{ path: string; token: string | undefined }>;
  /** 'v2' requires a valid token; a status code answers the token PUT with it (IMDSv1 only). */
  mode: 'v2' | 403 | 404 | 405;
  /** Requests that are read and never answered (the socket stays open). */
  hangs: (method: string, path: string) => boolean;
  getDelayMs: number;
  forget(): void;
}

async function fakeImds(t: Test): Promise<FakeImds> {
  let valid = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const imds: FakeImds = {
    url: '', puts: 0, tokensIssued: 0, gets: [], mode: 'v2', hangs: () => false, getDelayMs: 0,
    forget: () => { valid = new Set(); },
  };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    if (req.method === 'PUT' && path === '/latest/api/token') {
      imds.puts++;
      if (imds.hangs('PUT', path)) return;
      if (imds.mode !== 'v2') return res.writeHead(imds.mode).end();
      const token = `tok-${++imds.tokensIssued}`;
      valid.add(token);
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
    }
    const token = req.headers['x-aws-ec2-metadata-token'] as string | undefined;
    imds.gets.push({ path, token });
    if (imds.hangs('GET', path)) return;
    const answer = () => {
      if (imds.mode === 'v2' && (token === undefined || !valid.has(token))) return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(path.endsWith('/placement/region') ? 'eu-west-1' : `answer for ${path}`);
    };
    if (imds.getDelayMs === 0) return answer();
    const timer = setTimeout(() => { timers.delete(timer); answer(); }, imds.getDelayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  imds.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return imds;
}

interface Outcome {
  ms: number;
  answer?: UpstreamAnswer;
  error?: Error & { code?: string; statusCode?: number };
}

/** Starts the request now and records when and how it settled. */
function timed(request: Promise<UpstreamAnswer>): Promise<Outcome> {
  const started = performance.now();
  return request.then(
    (answer) => ({ ms: performance.now() - started, answer }),
    (error: Error) => ({ ms: performance.now() - started, error }),
  );
}

const paths = (n: number, prefix = '/latest/meta-data/p') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const REGION = '/latest/meta-data/placement/region';

t.test('40 requests an upstream never answers: past the queue bound refused at once, the rest fail at their deadline, another pod\'s region is not held up', async (t) => {
  const imds = await fakeImds(t);
  imds.hangs = (method, path) => method === 'GET' && path.startsWith('/latest/meta-data/hang/');
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 300 });
  const hung = paths(40, '/latest/meta-data/hang/').map((path) => timed(upstream.get(path)));
  const region = timed(upstream.get(REGION));
  const outcomes = await Promise.all(hung);
  const busy = outcomes.filter((o) => o.error?.code === 'UPSTREAM_BUSY');
  const timedOut = outcomes.filter((o) => o.error?.code === 'UPSTREAM_TIMEOUT');
  t.equal(busy.length, 20, '4 in flight and 16 waiting; the other 20 are refused');
  t.ok(busy.every((o) => o.ms < 100 && o.error?.statusCode === 503), 'refused at once, for a 503');
  t.equal(timedOut.length, 20);
  t.ok(timedOut.every((o) => o.error?.statusCode === 502), 'a timeout is a 502');
  const slowest = Math.max(...timedOut.map((o) => o.ms));
  t.ok(slowest < 300 + SLACK_MS, `the last waiting request failed after ${Math.round(slowest)} ms, within its 300 ms deadline`);
  const regionOutcome = await region;
  t.equal(regionOutcome.error?.code, 'UPSTREAM_BUSY', 'the 41st, another pod\'s region, is refused, not queued');
  t.ok(regionOutcome.ms < 100, `in ${Math.round(regionOutcome.ms)} ms`);
  const after = await timed(upstream.get(REGION));
  t.match(after, { answer: { status: 200, body: 'eu-west-1' } }, 'once the hung requests are gone the region answers');
  t.ok(after.ms < 300, `in ${Math.round(after.ms)} ms`);
  t.equal(imds.puts, 1, 'one token for all of them');
  t.comment(`busy ${Math.round(Math.max(...busy.map((o) => o.ms)))} ms, timed out ${Math.round(Math.min(...timedOut.map((o) => o.ms)))}-${Math.round(slowest)} ms, region after ${Math.round(after.ms)} ms`);
});

t.test('a request\'s deadline includes its wait for a connection: with 300 ms answers none of 20 settles after its 1 s deadline', async (t) => {
  const imds = await fakeImds(t);
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 1000 });
  await upstream.get(REGION); // the token, so the waves below are GETs only
  imds.getDelayMs = 300;
  const outcomes = await Promise.all(paths(20).map((path) => timed(upstream.get(path))));
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  t.ok(slowest < 1000 + SLACK_MS, `the slowest settled after ${Math.round(slowest)} ms`);
  const answered = outcomes.filter((o) => o.answer?.status === 200).length;
  t.ok(answered >= 8, `${answered} answered in time (waves of 4 at 300, 600, 900 ms)`);
  t.ok(outcomes.every((o) => o.answer?.status === 200 || o.error?.code === 'UPSTREAM_TIMEOUT'), 'the rest timed out');
  t.comment(`${answered}/20 answered, slowest settled after ${Math.round(slowest)} ms`);
});

t.test('an upstream that answers slowly but within the deadline serves every request', async (t) => {
  const imds = await fakeImds(t);
  imds.getDelayMs = 100;
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 1000 });
  const outcomes = await Promise.all(paths(12).map((path) => timed(upstream.get(path))));
  t.ok(outcomes.every((o) => o.answer?.status === 200), 'all 12 answered');
  t.equal(imds.puts, 1);
  t.comment(`slowest ${Math.round(Math.max(...outcomes.map((o) => o.ms)))} ms`);
});

t.test('40 concurrent GETs share exactly one token PUT', async (t) => {
  const imds = await fakeImds(t);
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 2000, maxQueued: 40 });
  const answers = await Promise.all(paths(40).map((path) => upstream.get(path)));
  t.ok(answers.every((a) => a.status === 200));
  t.equal(imds.puts, 1);
  t.ok(imds.gets.every((g) => g.token === 'tok-1'), 'every GET carried it');
});

t.test('identical concurrent GETs share one upstream request, and its answer is not cached', async (t) => {
  const imds = await fakeImds(t);
  imds.getDelayMs = 50;
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 1000 });
  const answers = await Promise.all(Array.from({ length: 40 }, () => upstream.get(REGION)));
  t.ok(answers.every((a) => a.status === 200 && a.body === 'eu-west-1'), 'all 40 answered');
  t.equal(imds.gets.length, 1, 'one upstream GET');
  await upstream.get(REGION);
  t.equal(imds.gets.length, 2, 'a later request asks again');
});

t.test('the token is renewed once after it expires, however many ask at once', async (t) => {
  const imds = await fakeImds(t);
  const time = new FakeTime();
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: time, timeoutMs: 2000, maxQueued: 40 });
  await upstream.get(REGION);
  await time.advance(6 * 3_600_000 - 30_000);
  const answers = await Promise.all(paths(40).map((path) => upstream.get(path)));
  t.ok(answers.every((a) => a.status === 200));
  t.equal(imds.tokensIssued, 2, 'one renewal');
  t.ok(imds.gets.slice(1).every((g) => g.token === 'tok-2'));
});

t.test('a 401 renews the token once, not once per request that carried it', async (t) => {
  const imds = await fakeImds(t);
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 2000, maxQueued: 40 });
  await upstream.get(REGION);
  imds.forget();
  const first = await Promise.all(paths(40).map((path) => upstream.get(path)));
  const refused = first.filter((a) => a.status === 401).length;
  t.ok(refused >= 1 && refused <= 4, `only the ${refused} in flight with the stale token are refused`);
  t.equal(first.filter((a) => a.status === 200).length, 40 - refused, 'the rest use the renewed token');
  const second = await Promise.all(paths(40).map((path) => upstream.get(path)));
  t.ok(second.every((a) => a.status === 200));
  t.equal(imds.tokensIssued, 2, 'one renewal for 80 requests');
});

t.test('an IMDSv1-only upstream is probed once for 40 concurrent GETs and used without a token', async (t) => {
  const imds = await fakeImds(t);
  imds.mode = 405;
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 2000, maxQueued: 40 });
  const answers = await Promise.all(paths(40).map((path) => upstream.get(path)));
  t.ok(answers.every((a) => a.status === 200));
  t.equal(imds.puts, 1);
  t.ok(imds.gets.every((g) => g.token === undefined));
});

t.test('a hung token PUT: every caller waits for the same PUT and fails at its deadline; the next caller tries again', async (t) => {
  const imds = await fakeImds(t);
  let putHangs = true;
  imds.hangs = (method) => method === 'PUT' && putHangs;
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 300 });
  const outcomes = await Promise.all(paths(10).map((path) => timed(upstream.get(path))));
  t.ok(outcomes.every((o) => o.error?.code === 'UPSTREAM_TIMEOUT'), 'all time out');
  t.match(outcomes[0]?.error?.message, /did not answer within 300 ms/);
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  t.ok(slowest < 300 + SLACK_MS, `within the deadline (${Math.round(slowest)} ms)`);
  t.equal(imds.puts, 1, 'one PUT for all of them');
  putHangs = false;
  t.match(await upstream.get(REGION), { status: 200 });
  t.equal(imds.puts, 2, 'a failed PUT is not kept');
});

t.test('after the deadline passes, the connection and the queue place it held are free again', async (t) => {
  const imds = await fakeImds(t);
  imds.hangs = (method) => method === 'GET';
  const time = new FakeTime();
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: time, scheduler: time, timeoutMs: 1000, maxConcurrent: 1, maxQueued: 1 });
  const settled: string[] = [];
  const track = (name: string, request: Promise<UpstreamAnswer>) => request.then(
    () => { settled.push(`${name} answered`); },
    (error: Error & { code?: string }) => { settled.push(`${name} ${error.code ?? error.message}`); },
  );
  const holding = track('holding', upstream.get('/latest/meta-data/a'));
  const waiting = track('waiting', upstream.get('/latest/meta-data/b'));
  await track('refused', upstream.get('/latest/meta-data/c'));
  t.same(settled, ['refused UPSTREAM_BUSY'], 'one in flight, one waiting, the third refused at once');
  await time.advance(999);
  t.same(settled, ['refused UPSTREAM_BUSY'], 'nothing else settles before the deadline');
  await time.advance(1);
  await Promise.all([holding, waiting]);
  t.same(settled.slice(1).sort(), ['holding UPSTREAM_TIMEOUT', 'waiting UPSTREAM_TIMEOUT']);
  settled.length = 0;
  const again = [track('next', upstream.get('/latest/meta-data/d')), track('queued', upstream.get('/latest/meta-data/e'))];
  await track('over', upstream.get('/latest/meta-data/f'));
  t.same(settled, ['over UPSTREAM_BUSY'], 'a new one holds the connection and another waits: nothing leaked');
  await time.advance(1000);
  await Promise.all(again);
});
