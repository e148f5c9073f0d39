import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetadataUpstream } from '../../src/node-metadata/index.js';
import { FakeTime } from '../helpers/fake-time.js';

interface FakeImds {
  url: string;
  tokensIssued: number;
  gets: Array<{ path: string; token: string | undefined }>;
  /** 'v2' requires a valid token; a status code answers the token PUT with it (an IMDSv1-only service). */
  mode: 'v2' | 403 | 404 | 405;
  /** Forget issued tokens (a restarted IMDS). */
  forget(): void;
  delayMs: number;
}

async function fakeImds(t: Test): Promise<FakeImds> {
  let valid = new Set<string>();
  const imds: FakeImds = { url: '', tokensIssued: 0, gets: [], mode: 'v2', delayMs: 0, forget: () => { valid = new Set(); } };
  const server = http.createServer((req, res) => {
    const answer = () => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        if (imds.mode !== 'v2') return res.writeHead(imds.mode).end();
        const token = `tok-${++imds.tokensIssued}`;
        valid.add(token);
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      }
      const token = req.headers['x-aws-ec2-metadata-token'] as string | undefined;
      imds.gets.push({ path: req.url ?? '', token });
      if (imds.mode === 'v2' && (token === undefined || !valid.has(token))) return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('eu-west-1');
    };
    if (imds.delayMs) setTimeout(answer, imds.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  imds.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return imds;
}

t.test('allowlisted paths are fetched with the agent\'s own IMDSv2 token, minted once and reused', async (t) => {
  const imds = await fakeImds(t);
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 1000 });
  for (let i = 0; i < 3; i++) t.match(await upstream.get('/latest/meta-data/placement/region'), { status: 200, body: 'eu-west-1' });
  t.equal(imds.tokensIssued, 1);
  t.same(imds.gets.map((g) => g.token), ['tok-1', 'tok-1', 'tok-1']);
});

t.test('the token is renewed before it expires and after the IMDS forgets it', async (t) => {
  const imds = await fakeImds(t);
  const time = new FakeTime();
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: time, timeoutMs: 1000 });
  await upstream.get('/latest/meta-data/instance-id');
  await time.advance(6 * 3_600_000 - 30_000);
  await upstream.get('/latest/meta-data/instance-id');
  t.equal(imds.tokensIssued, 2, 'renewed within a minute of its 6 h end');
  imds.forget();
  t.equal((await upstream.get('/latest/meta-data/instance-id')).status, 401, 'the stale token is refused once');
  t.equal((await upstream.get('/latest/meta-data/instance-id')).status, 200, 'and a new one is minted next time');
  t.equal(imds.tokensIssued, 3);
});

for (const status of [403, 404, 405] as const) {
  t.test(`an IMDS that answers the token PUT with ${status} is used without a token, as the SDKs do`, async (t) => {
    const imds = await fakeImds(t);
    imds.mode = status;
    const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 1000 });
    t.match(await upstream.get('/latest/meta-data/placement/region'), { status: 200, body: 'eu-west-1' });
    t.equal(imds.gets[0]?.token, undefined);
  });
}

t.test('a metadata service that does not answer in time fails the request instead of holding it', async (t) => {
  const imds = await fakeImds(t);
  imds.delayMs = 2000;
  const upstream = createMetadataUpstream({ baseUrl: imds.url, clock: new FakeTime(), timeoutMs: 100 });
  await t.rejects(upstream.get('/latest/meta-data/placement/region'), /did not answer within 100 ms/);
});

t.test('the posture: a GET without a token answered with data is IMDSv1 allowed, 401 is IMDSv2 required, no answer is unknown', async (t) => {
  const v2 = await fakeImds(t);
  t.equal(await createMetadataUpstream({ baseUrl: v2.url, clock: new FakeTime(), timeoutMs: 1000 }).posture(), 'imdsv2-required');
  t.same(v2.gets, [{ path: '/latest/meta-data/', token: undefined }], 'asked without a token, and no token was minted for it');
  t.equal(v2.tokensIssued, 0);
  const v1 = await fakeImds(t);
  v1.mode = 404;
  t.equal(await createMetadataUpstream({ baseUrl: v1.url, clock: new FakeTime(), timeoutMs: 1000 }).posture(), 'imdsv1-allowed');
  t.equal(await createMetadataUpstream({ baseUrl: 'http://127.0.0.1:9', clock: new FakeTime(), timeoutMs: 1000 }).posture(), 'unknown', 'nothing listens');
});

t.test('a posture question the service never answers ends at the deadline as unknown', async (t) => {
  // A service that accepts the connection and never answers.
  const silent = http.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { silent.closeAllConnections(); silent.close(() => resolve()); }));
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const time = new FakeTime();
  const asked = createMetadataUpstream({ baseUrl: url, clock: time, scheduler: time, timeoutMs: 1000 }).posture();
  await time.advance(1000);
  t.equal(await asked, 'unknown');
});
