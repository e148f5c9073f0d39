import t from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { build, type Built } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { within } from '../helpers/fake-kube-api.js';

const NODE_SECRET = 'NODE-ROLE-SECRET';
const ALLOWED_STATUS = new Set([200, 400, 401, 403, 404, 405, 413, 415, 429, 503]);

async function withPods(t: Parameters<typeof build>[0], flags: string[] = []): Promise<Built> {
  const app = await build(t, ['--rate-limit', '0', ...flags], { get: async () => ({ status: 200, body: NODE_SECRET, contentType: 'text/plain' }) });
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'good', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'fuzzer', ip: '10.0.0.66' }));
  return app;
}

async function stillServesGoodPod(t: Parameters<typeof build>[0], app: Built): Promise<void> {
  const res = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/spark-etl', remoteAddress: '10.0.0.7' });
  t.equal(res.statusCode, 200, 'another pod is still served');
  t.equal(JSON.parse(res.body).Code, 'Success');
}

const pathSegment = fc.oneof(
  fc.constantFrom('latest', 'meta-data', 'iam', 'security-credentials', 'security-credentials-extended', 'spark-etl', 'user-data', 'api', 'token', 'info', '..', '.', '', '%2e%2e', 'placement', 'region', 'identity-credentials', 'dynamic', '2021-07-15', '1999-01-01', 'instance-id', 'availability-zone', 'instance-identity', 'document'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const path = fc.array(pathSegment, { maxLength: 7 }).map((parts) => `/${parts.join('/')}`);
const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS');
const headerName = fc.constantFrom('x-aws-ec2-metadata-token', 'x-aws-ec2-metadata-token-ttl-seconds', 'x-forwarded-for', 'host', 'content-type', 'x-real-ip', 'accept');
const headerValue = fc.oneof(fc.string({ maxLength: 64 }), fc.integer().map(String), fc.constant('21600'), fc.string({ maxLength: 3000 }));

t.test('whatever path, method, headers or token a pod sends, the answer is a coded error or its own data, never a crash or the node\'s', async (t) => {
  const app = await withPods(t);
  await fc.assert(
    fc.asyncProperty(path, method, fc.dictionary(headerName, headerValue, { maxKeys: 4 }), async (url, verb, headers) => {
      const clean = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace(/[^\x20-\x7e]/g, '')]));
      const res = await app.imds.inject({ method: verb as 'GET', url, headers: clean, remoteAddress: '10.0.0.66' });
      if (!ALLOWED_STATUS.has(res.statusCode)) throw new Error(`${verb} ${url} got ${res.statusCode}: ${res.body}`);
      // An allowlisted path under any version prefix, with or without one trailing slash.
      const asLatest = url.replace(/^\/[^/]+\//, '/latest/').replace(/(.)\/$/, '$1');
      const allowlisted = app.config.passthroughPaths.includes(asLatest) && (verb === 'GET' || verb === 'HEAD');
      if (!allowlisted && res.body.includes(NODE_SECRET)) throw new Error(`${verb} ${url} leaked the node's data`);
    }),
    { numRuns: 1500 },
  );
  await stillServesGoodPod(t, app);
});

t.test('random tokens, including ones shaped like ours, are refused with 401', async (t) => {
  const app = await withPods(t);
  const real = (await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.66', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '600' } })).body;
  const shaped = fc.tuple(fc.constantFrom('c1', 'c2', ''), fc.string({ maxLength: 12 }), fc.string({ maxLength: 50 })).map(([v, e, m]) => `${v}.${e}.${m}`);
  const mutated = fc.nat({ max: real.length - 1 }).chain((i) => fc.string({ minLength: 1, maxLength: 1 }).filter((c) => c !== real[i]).map((c) => real.slice(0, i) + c + real.slice(i + 1)));
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), shaped, mutated), async (token) => {
      const value = token.replace(/[^\x21-\x7e]/g, '');
      if (value === real || value === '') return;
      const res = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.66', headers: { 'x-aws-ec2-metadata-token': value } });
      if (res.statusCode !== 401) throw new Error(`token ${JSON.stringify(value)} got ${res.statusCode}`);
    }),
    { numRuns: 2000 },
  );
  t.equal((await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.66', headers: { 'x-aws-ec2-metadata-token': real } })).statusCode, 200, 'the real token works');
});

t.test('any annotation value denies only its own namespace, never crashes the agent', async (t) => {
  const app = await withPods(t);
  app.kube.setNamespace('chaos', {});
  let victim = app.kube.addPod(podInfo({ name: 'victim', ip: '10.0.9.9', namespace: 'chaos' }));
  const value = fc.oneof(fc.string({ maxLength: 80 }), fc.json(), fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }).map((a) => JSON.stringify(a)), fc.constantFrom('["*"]', '[""]', '[null]', '"spark-*"', '[[]]', '{}', 'arn:aws:iam::123456789012:role/x'));
  await fc.assert(
    fc.asyncProperty(value, value, value, value, async (role, allowed, externalId, podRole) => {
      app.kube.setNamespace('chaos', { 'iam.amazonaws.com/role': role, 'iam.amazonaws.com/allowed-roles': allowed, 'iam.amazonaws.com/external-id': externalId });
      app.kube.removePod(victim);
      victim = app.kube.addPod(podInfo({ name: 'victim', ip: '10.0.9.9', namespace: 'chaos', annotations: { 'iam.amazonaws.com/role': podRole } }));
      const res = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.9.9' });
      if (![200, 404].includes(res.statusCode)) throw new Error(`got ${res.statusCode}`);
      const good = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.7' });
      if (good.body !== 'spark-etl') throw new Error('the other namespace was affected');
    }),
    { numRuns: 500 },
  );
  t.pass('500 random annotation sets');
});

async function listening(t: Parameters<typeof build>[0]): Promise<{ app: Built; port: number }> {
  const app = await withPods(t);
  // The other caller, served passthrough only because it is a known pod; and the abusive one, a
  // pod of this node too (a stranger would get a stranger's smaller budget).
  app.kube.addPod(podInfo({ name: 'local', ip: '127.0.0.1' }));
  app.kube.addPod(podInfo({ name: 'abuser', ip: '127.0.0.66' }));
  await app.imds.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.imds.server.address() as AddressInfo).port };
}

function get(port: number, from: string, path = '/latest/meta-data/iam/security-credentials/', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(3000, () => req.destroy(new Error(`GET ${path} from ${from}: no answer in 3 s`)));
    req.on('error', reject);
  });
}

t.test('oversized headers get 431 and the server keeps answering', async (t) => {
  const { port } = await listening(t);
  const big = await get(port, '127.0.0.66', '/latest/meta-data/iam/security-credentials/', { 'x-padding': 'a'.repeat(16 * 1024) });
  t.equal(big.status, 431);
  const ok = await new Promise<number>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/latest/meta-data/placement/region', localAddress: '127.0.0.1', agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', () => resolve(0));
  });
  t.equal(ok, 200);
});

t.test('slow clients holding half-sent requests neither block other pods nor stay connected', async (t) => {
  const { port } = await listening(t);
  const slow: net.Socket[] = [];
  for (let i = 0; i < 50; i++) {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.66' });
    socket.on('error', () => {});
    socket.resume(); // read the server's 408, so the close is seen
    socket.write('GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Slow: ');
    slow.push(socket);
  }
  t.teardown(() => { for (const s of slow) s.destroy(); });
  // Served, not just eventually: `get` gives up after 3 s, well before the header timeout frees anything.
  const answer = await get(port, '127.0.0.1', '/latest/meta-data/placement/region');
  t.equal(answer.status, 200, 'another caller is served while 50 slow requests hang');
  await within(Promise.all(slow.map((s) => new Promise((resolve) => s.once('close', resolve)))), 15_000, 'the slow connections to be closed');
  t.pass('every half-sent request was closed by the header timeout');
});

t.test('one pod opening hundreds of connections is capped; other pods still connect', async (t) => {
  const { port } = await listening(t);
  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  const closedEarly: number[] = [];
  let allOverCapClosed: () => void = () => {};
  const capped = new Promise<void>((resolve) => (allOverCapClosed = resolve));
  await Promise.all(
    Array.from({ length: 300 }, (_, i) => new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.66' }, () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
      socket.on('close', () => {
        closedEarly.push(i);
        if (closedEarly.length === 300 - 256) allOverCapClosed();
        resolve();
      });
      sockets.push(socket);
    })),
  );
  await within(capped, 5000, 'the connections over the cap to be closed');
  t.equal(closedEarly.length, 44, 'connections beyond 256 from one caller are closed');
  const other = await get(port, '127.0.0.1', '/latest/meta-data/placement/region');
  t.equal(other.status, 200, 'another caller connects and is served');
});
