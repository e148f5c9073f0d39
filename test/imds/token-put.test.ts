import t from 'tap';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';

const TTL = { 'x-aws-ec2-metadata-token-ttl-seconds': '60' };
const CREDS = '/latest/meta-data/iam/security-credentials/';

async function withPod(t: Parameters<typeof build>[0]) {
  const app = await build(t, ['--require-imdsv2']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'p', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'local', ip: '127.0.0.1' }));
  return app;
}

t.test('the token PUT answers by its method and TTL only: any content type, any or no body', async (t) => {
  const app = await withPod(t);
  const cases: Array<[string, Record<string, string>, string | undefined]> = [
    ['curl -X PUT -d \'\' (a form content type, empty body)', { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' }, ''],
    ['a form body', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1&b=2'],
    ['JSON content type, empty body', { 'content-type': 'application/json', 'content-length': '0' }, ''],
    ['JSON content type, broken JSON', { 'content-type': 'application/json' }, '{not json'],
    ['a body with no content type', {}, 'hello'],
    ['an octet stream', { 'content-type': 'application/octet-stream' }, '\u0000\u0001'],
    ['a malformed content type', { 'content-type': 'garbage' }, 'x'],
    ['text/plain', { 'content-type': 'text/plain' }, 'x'],
  ];
  for (const [name, headers, payload] of cases) {
    const res = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { ...TTL, ...headers }, ...(payload !== undefined ? { payload } : {}) });
    t.equal(res.statusCode, 200, name);
    t.equal(res.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60', `${name}: the TTL is echoed`);
    const use = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token': res.body } });
    t.equal(use.body, 'spark-etl', `${name}: the token works`);
  }
  const bad = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { 'content-type': 'application/json' }, payload: '{}' });
  t.equal(bad.statusCode, 400, 'the TTL still decides: none is 400');
  const forwarded = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { ...TTL, 'content-type': 'application/json', 'x-forwarded-for': '1.2.3.4' }, payload: '{}' });
  t.equal(forwarded.statusCode, 403, 'X-Forwarded-For is still 403');
  const post = await app.imds.inject({ method: 'POST', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
  t.equal(post.statusCode, 405, 'another method with a body is 405, not 415');
});

t.test('a token PUT body over the size limit gets 413, never 400 or 415', async (t) => {
  const app = await withPod(t);
  const res = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { ...TTL, 'content-type': 'application/json' }, payload: 'x'.repeat(4096) });
  t.equal(res.statusCode, 413);
  t.equal(res.body, 'Payload Too Large');
});

/** Sends raw HTTP/1.1 and returns the whole answer once the server closes or the answer is complete. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => socket.end(text));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

t.test('a chunked token PUT, with or without a content type, gets a token', async (t) => {
  const app = await withPod(t);
  await app.imds.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.imds.server.address() as AddressInfo).port;
  for (const contentType of ['', 'Content-Type: application/x-www-form-urlencoded\r\n', 'Content-Type: application/json\r\n']) {
    const answer = await rawRequest(port, `PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n${contentType}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    t.match(answer, /^HTTP\/1\.1 200 /, `chunked, ${contentType.trim() || 'no content type'}`);
    t.match(answer, /\r\n\r\nc2\./, 'the answer is a token');
  }
  const empty = await rawRequest(port, 'PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n');
  t.match(empty, /^HTTP\/1\.1 200 /, 'an empty chunked body');
});

/** A token PUT from `ip`, started now; `answered()` says whether its answer has come. */
function pendingPut(app: Awaited<ReturnType<typeof build>>, ip: string) {
  let answered = false;
  const put = app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: ip, headers: TTL }).then((res) => {
    answered = true;
    return res;
  });
  return { put, answered: () => answered };
}

/** Asserts a token PUT from `ip` (no pod's) is still waiting 1 ms before `ms` and answered at `ms`; returns its answer. */
async function tokenAnsweredAfter(t: Parameters<typeof build>[0], app: Awaited<ReturnType<typeof build>>, ip: string, ms: number) {
  const { put, answered } = pendingPut(app, ip);
  await app.time.advance(ms - 1);
  t.notOk(answered(), `still waiting for the watch at ${ms - 1} ms`);
  await app.time.advance(1);
  t.ok(answered(), `answered at ${ms} ms`);
  return put;
}

t.test('a token request from a pod the watch has not delivered yet is answered once its pod arrives, and the token then serves its role', async (t) => {
  const app = await build(t, ['--pod-lookup-timeout', '5s']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  const { put, answered } = pendingPut(app, '10.0.0.60');
  await app.time.advance(500);
  t.notOk(answered(), 'no token while the IP is no pod the agent knows');
  app.kube.addPod(podInfo({ name: 'first-call', ip: '10.0.0.60' }));
  const res = await put;
  t.equal(res.statusCode, 200, 'answered when the watch delivered the pod');
  const list = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.60', headers: { 'x-aws-ec2-metadata-token': res.body } });
  t.equal(list.body, 'spark-etl', 'the role listing that follows is served at once');
});

t.test('a token request from an IP no pod claims waits 800 ms at most (an SDK gives it 1 s), then gets its token', async (t) => {
  const app = await build(t, ['--pod-lookup-timeout', '5s']);
  const put = await tokenAnsweredAfter(t, app, '10.0.0.61', 800);
  t.equal(put.statusCode, 200, 'a token, as real IMDS gives any caller');
  const list = app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.61', headers: { 'x-aws-ec2-metadata-token': put.body } });
  await app.time.advance(5_000);
  t.equal((await list).statusCode, 404, 'which serves no role to an IP that is no pod, after the lookup timeout');
});

t.test('a token request waits no longer than the pod-lookup timeout, and not at all when it is 0', async (t) => {
  const short = await build(t, ['--pod-lookup-timeout', '200ms']);
  t.equal((await tokenAnsweredAfter(t, short, '10.0.0.62', 200)).statusCode, 200, 'answered at the 200 ms lookup timeout');
  const none = await build(t);
  t.equal((await none.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.63', headers: TTL })).statusCode, 200, '--pod-lookup-timeout 0: at once');
});
