import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { build, type Built } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { within } from '../helpers/fake-kube-api.js';

// Pods reach the metadata port through the node's DNAT rule; anything else that can route to
// HOST_IP:8181 (every pod of the cluster) is a stranger: a small pool of its own.

async function metadataPort(t: Test): Promise<{ app: Built; port: number }> {
  const app = await build(t, ['--rate-limit', '0']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'driver', ip: '127.0.0.7' }));
  await app.imds.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.imds.server.address() as AddressInfo).port };
}

/** `count` half-sent requests from `from`; resolves with the sockets and how many the server closed at once. */
async function holdConnections(t: Test, port: number, from: string, count: number, expectClosed: number) {
  const sockets: net.Socket[] = [];
  let closed = 0;
  let allClosed: () => void = () => {};
  const done = new Promise<void>((resolve) => (allClosed = resolve));
  if (expectClosed === 0) allClosed();
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    socket.on('error', () => undefined);
    socket.resume();
    socket.write('GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Slow: ');
    socket.once('close', () => {
      if (++closed === expectClosed) allClosed();
    });
    sockets.push(socket);
  }
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await within(done, 5000, `${expectClosed} of ${count} connections from ${from} to be closed`);
  return { closed: () => closed };
}

function credentialsList(port: number, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/latest/meta-data/iam/security-credentials/', localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(3000, () => req.destroy(new Error(`no answer in 3 s for ${from}`)));
    req.on('error', reject);
  });
}

const refusals = async (app: Built, reason: string) =>
  Number(new RegExp(`corridor_connections_refused_total\\{server="imds",reason="${reason}"\\} (\\d+)`).exec(await app.metrics.registry.metrics())?.[1] ?? 0);

t.test('a caller that is no pod of this node holds at most 16 connections; refusals are counted and logged once per interval', async (t) => {
  const { app, port } = await metadataPort(t);
  const held = await holdConnections(t, port, '127.0.3.1', 40, 24);
  t.equal(held.closed(), 24, '24 of 40 closed as they arrived');
  t.equal(await refusals(app, 'stranger-caller-limit'), 24, 'each one counted');
  const lines = () => app.logs.filter((line) => line.msg === 'connection refused: over its budget');
  t.equal(lines().length, 1, 'one log line for the first');
  t.match(lines()[0], { level: 'warn', component: 'guard', server: 'imds', reason: 'stranger-caller-limit', ip: '127.0.3.1' });
  await app.time.advance(10_000);
  t.match(lines()[1], { reason: 'stranger-caller-limit', repeated: 23, withinSeconds: 10 }, 'and one for the rest of the interval');
  t.same(await credentialsList(port, '127.0.0.7'), { status: 200, body: 'spark-etl' }, 'the node\'s pod is served meanwhile');
});

t.test('strangers share a pool of 128 connections apart from the pods: a stranger flood leaves this node\'s pods served', async (t) => {
  const { app, port } = await metadataPort(t);
  for (let i = 1; i <= 8; i++) await holdConnections(t, port, `127.0.4.${i}`, 16, 0);
  await holdConnections(t, port, '127.0.4.9', 16, 16);
  t.equal(await refusals(app, 'stranger-total-limit'), 16, 'the ninth stranger found the pool full');
  for (let i = 0; i < 20; i++) t.same(await credentialsList(port, '127.0.0.7'), { status: 200, body: 'spark-etl' }, `pod request ${i + 1} served`);
  await holdConnections(t, port, '127.0.0.7', 100, 0);
  t.pass('a pod of this node still opens 100 connections of its own');
});

t.test('a caller the watch delivers becomes a pod: its new connections count in the pods\' budget', async (t) => {
  const { app, port } = await metadataPort(t);
  await holdConnections(t, port, '127.0.5.1', 20, 4);
  app.kube.addPod(podInfo({ name: 'late', ip: '127.0.5.1' }));
  await holdConnections(t, port, '127.0.5.1', 40, 0);
  t.same(await credentialsList(port, '127.0.5.1'), { status: 200, body: 'spark-etl' });
});
