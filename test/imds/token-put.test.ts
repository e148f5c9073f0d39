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
