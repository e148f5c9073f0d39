import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { AssumeRoleError, createStsAssumer, type AssumeRequest, type StsAssumer } from '../../src/credentials/index.js';
import type { ProxyEnv } from '../../src/credentials/proxy.js';
import { MOTO_ACCOUNT, MOTO_CREDENTIALS, startMoto } from '../helpers/moto.js';

const REQUEST: AssumeRequest = {
  roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/spark`,
  roleSessionName: 'corridor.etl.node-1',
  durationSeconds: 3600,
};

interface Seen {
  kind: 'forward' | 'connect';
  /** The request target as the proxy received it: an absolute URI, or host:port for CONNECT. */
  target: string;
  authorization: string | undefined;
}

/**
 * A loopback HTTP proxy: forwards absolute-URI requests (and refuses origin-form ones, as real
 * proxies do) and tunnels CONNECT. Records what it was asked.
 */
async function startProxy(t: Test): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    const target = request.url ?? '';
    seen.push({ kind: 'forward', target, authorization: request.headers['proxy-authorization'] });
    if (!/^http:\/\//.test(target)) {
      response.writeHead(400).end('proxy needs an absolute URI');
      return;
    }
    const url = new URL(target);
    const headers = { ...request.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: request.method, headers, agent: false }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.writeHead(502).end());
    request.pipe(upstream);
  });
  server.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = request.url ?? '';
    seen.push({ kind: 'connect', target, authorization: request.headers['proxy-authorization'] });
    const at = target.lastIndexOf(':');
    const upstream = net.connect(Number(target.slice(at + 1)), target.slice(0, at), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await listen(server);
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function listen(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function assumerFor(t: Test, endpoint: string, env: ProxyEnv, ca?: Buffer): StsAssumer {
  const assumer = createStsAssumer({ region: 'us-east-1', endpoint, env, credentials: MOTO_CREDENTIALS, requestTimeoutMs: 5_000, ...(ca ? { ca } : {}) });
  t.teardown(() => assumer.close());
  return assumer;
}

// One moto for the whole file; it is stopped when the file's tests are done.
const moto = await startMoto(t);

t.test('plain-http STS through HTTP_PROXY: absolute-URI requests via the proxy, NO_PROXY bypasses it', async (t) => {
  const proxy = await startProxy(t);

  const proxied = assumerFor(t, moto.endpoint, { HTTP_PROXY: proxy.url, HTTPS_PROXY: 'http://127.0.0.1:9' });
  t.equal(proxied.proxy?.href, `${proxy.url}/`);
  const session = await proxied.assume(REQUEST);
  t.match(session.assumedRoleArn, /:assumed-role\/spark\/corridor\.etl\.node-1$/);
  await proxied.assume(REQUEST);
  t.equal(proxy.seen.length, 2, 'the proxy carried both calls');
  t.same(proxy.seen[0], { kind: 'forward', target: `${moto.endpoint}/`, authorization: undefined }, 'in absolute form');

  for (const noProxy of ['127.0.0.1', `127.0.0.1:${moto.port}`, '127.0.0.0/8', '*']) {
    const direct = assumerFor(t, moto.endpoint, { http_proxy: proxy.url, no_proxy: noProxy });
    t.equal(direct.proxy, undefined, `NO_PROXY=${noProxy}: direct`);
    await direct.assume(REQUEST);
    t.equal(proxy.seen.length, 2, `NO_PROXY=${noProxy}: the proxy saw nothing`);
  }

  const otherPort = assumerFor(t, moto.endpoint, { HTTP_PROXY: proxy.url, NO_PROXY: `127.0.0.1:${moto.port + 1}` });
  await otherPort.assume(REQUEST);
  t.equal(proxy.seen.length, 3, 'a NO_PROXY entry for another port does not bypass');
});

t.test('proxy credentials in the URL are sent as Proxy-Authorization', async (t) => {
  const proxy = await startProxy(t);
  const withAuth = proxy.url.replace('http://', 'http://corridor:s%40cret@');
  await assumerFor(t, moto.endpoint, { HTTP_PROXY: withAuth }).assume(REQUEST);
  t.equal(proxy.seen[0]?.authorization, `Basic ${Buffer.from('corridor:s@cret').toString('base64')}`);
});

t.test('a proxy that is down fails the call as retryable, not as a hang', async (t) => {
  const closed = net.createServer();
  await listen(closed);
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const error = await assumerFor(t, 'http://127.0.0.1:1', { HTTP_PROXY: `http://127.0.0.1:${port}` })
    .assume(REQUEST)
    .catch((e: unknown) => e);
  t.type(error, AssumeRoleError);
  t.match(error, { code: 'ECONNREFUSED', retryable: true });
});

const run = promisify(execFile);
const opensslMissing = await run('openssl', ['version']).then(
  () => false,
  () => 'openssl is not available to make a test certificate',
);

/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI. */
async function selfSigned(t: Test): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = t.testdir({});
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
}

const ASSUME_ROLE_RESPONSE = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>FwoGZXIvYXdzEXAMPLE</SessionToken>
      <Expiration>2030-01-01T01:00:00.123456Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:corridor.etl.node-1</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/spark/corridor.etl.node-1</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;

t.test('https STS through HTTPS_PROXY: a CONNECT tunnel, TLS verified against the given CA', { skip: opensslMissing }, async (t) => {
  const pair = await selfSigned(t);
  let answered = 0;
  const sts = https.createServer(pair, (request, response) => {
    request.resume();
    request.on('end', () => {
      answered++;
      response.writeHead(200, { 'content-type': 'text/xml' }).end(ASSUME_ROLE_RESPONSE);
    });
  });
  await listen(sts);
  t.teardown(() => {
    sts.closeAllConnections();
    sts.close();
  });
  const endpoint = `https://127.0.0.1:${(sts.address() as AddressInfo).port}`;
  const proxy = await startProxy(t);

  const session = await assumerFor(t, endpoint, { HTTPS_PROXY: proxy.url }, pair.cert).assume(REQUEST);
  t.equal(session.expiration, Date.UTC(2030, 0, 1, 1, 0, 0, 123), 'fractional seconds in Expiration parse');
  t.equal(answered, 1);
  t.same(proxy.seen.map((s) => [s.kind, s.target]), [['connect', endpoint.slice('https://'.length)]]);

  const untrusted = await assumerFor(t, endpoint, { HTTPS_PROXY: proxy.url })
    .assume(REQUEST)
    .catch((e: unknown) => e);
  t.match(untrusted, { name: 'AssumeRoleError', retryable: true }, 'without the CA the tunnel is made but TLS is refused');
  t.equal(answered, 1, 'and nothing reached STS');

  await assumerFor(t, endpoint, { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, pair.cert).assume(REQUEST);
  t.equal(answered, 2);
  t.equal(proxy.seen.length, 2, 'NO_PROXY: direct, no CONNECT');
});
