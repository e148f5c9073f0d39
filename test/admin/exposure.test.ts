import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { build, type Built } from '../helpers/build-app.js';
import { accessDenied } from '../helpers/fake-assumer.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { within } from '../helpers/fake-kube-api.js';
import { settle } from '../helpers/fake-time.js';

// What a pod on the node (any pod in the cluster, at the node IP) can do to the admin port.

const NODE_ROLE_TEXT = 'User: arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc123 is not authorized to perform: sts:AssumeRole';

async function corridors(t: Test): Promise<Built> {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('other', { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/other-secret-role' });
  app.kube.addPod(podInfo({ name: 'reader', namespace: 'gha', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'neighbour', namespace: 'other', ip: '10.0.0.8' }));
  await settle();
  return app;
}

const explain = (app: Built, ip: string, from?: string) => app.admin.inject({ url: `/debug/explain?ip=${ip}`, ...(from ? { remoteAddress: from } : {}) });

t.test('explain refuses a pod asking about another pod: no directory of other namespaces and their roles', async (t) => {
  const app = await corridors(t);
  const scan = await explain(app, '10.0.0.8', '10.0.0.7');
  t.equal(scan.statusCode, 403);
  t.notMatch(scan.body, /neighbour|other-secret-role|999999999999/);
  t.equal((await explain(app, '10.0.0.99', '10.0.0.7')).statusCode, 403, 'nor about an IP no pod has');
});

t.test('a pod asking explain about itself learns its decision, but not the STS error text', async (t) => {
  const app = await build(t);
  app.assumer.failWith = accessDenied(NODE_ROLE_TEXT);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'reader', ip: '10.0.0.7' }));
  await settle();
  const self = await explain(app, '10.0.0.7', '10.0.0.7');
  t.equal(self.statusCode, 200);
  t.match(self.json(), { pod: 'reader', decision: 'allow', credentials: { lastError: { code: 'AccessDenied' } } });
  t.notMatch(self.body, /eks-node-role|i-0abc123/, 'the node role and instance are not shown to the pod');
  const node = await explain(app, '10.0.0.7');
  t.match(node.json(), { credentials: { lastError: { message: /eks-node-role/ } } }, 'the node (localhost) sees the full error');
});

t.test('an IP two live pods claim: the pod is told only that; the audit line and the node\'s explain name them', async (t) => {
  const app = await corridors(t);
  app.kube.addPod(podInfo({ name: 'twin', namespace: 'other', ip: '10.0.0.7' }));
  await settle();
  const answer = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.7' });
  t.equal(answer.statusCode, 404);
  t.match(answer.body, /several live pods/);
  t.notMatch(answer.body, /twin|reader|gha|other/, 'no pod or namespace named to the caller');
  const audit = app.logs.find((line) => line.component === 'audit' && line.reason === 'ambiguous-ip');
  t.match(audit, { sharedWith: ['gha/reader', 'other/twin'] });
  t.match((await explain(app, '10.0.0.7')).json(), { reason: /ambiguous-ip/, sharedWith: ['gha/reader', 'other/twin'] });
  const self = (await explain(app, '10.0.0.7', '10.0.0.7')).json();
  t.equal(self.sharedWith, undefined, 'the pod asking about itself is not told who else claims its IP');
});

t.test('health and metrics stay open to every caller: the kubelet and Prometheus come from node and pod IPs', async (t) => {
  const app = await corridors(t);
  for (const from of ['10.0.1.5', '10.0.0.99']) {
    t.equal((await app.admin.inject({ url: '/healthz', remoteAddress: from })).statusCode, 200, `/healthz from ${from}`);
    t.equal((await app.admin.inject({ url: '/readyz', remoteAddress: from })).statusCode, 200, `/readyz from ${from}`);
    t.equal((await app.admin.inject({ url: '/metrics', remoteAddress: from })).statusCode, 200, `/metrics from ${from}`);
  }
});

t.test('a pod scraping /metrics in a loop gets 429 past its budget; others, and localhost, are still answered', async (t) => {
  const app = await corridors(t);
  const codes: number[] = [];
  for (let i = 0; i < 30; i++) codes.push((await app.admin.inject({ url: '/metrics', remoteAddress: '10.0.0.66' })).statusCode);
  t.same(codes.slice(0, 20), Array(20).fill(200), 'its burst');
  t.same(codes.slice(20), Array(10).fill(429), 'then 429');
  t.equal((await app.admin.inject({ url: '/metrics', remoteAddress: '10.0.0.67' })).statusCode, 200, 'Prometheus, from its own pod IP');
  for (let i = 0; i < 50; i++) if ((await app.admin.inject({ url: '/metrics' })).statusCode !== 200) t.fail('localhost was limited');
  await app.time.advance(1000);
  t.equal((await app.admin.inject({ url: '/metrics', remoteAddress: '10.0.0.66' })).statusCode, 200, 'served again as its bucket refills');
});

// ---- over real sockets ----

async function adminPort(t: Test): Promise<{ app: Built; port: number }> {
  const app = await corridors(t);
  await app.admin.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.admin.server.address() as AddressInfo).port };
}

function connect(port: number, from: string): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
  socket.on('error', () => undefined);
  socket.resume();
  return socket;
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

function get(port: number, from: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, localAddress: from, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(3000, () => req.destroy(new Error(`GET ${path} from ${from}: no answer in 3 s`)));
    req.on('error', reject);
  });
}

t.test('a pod holds at most 8 connections to the admin port, and idle ones are closed within seconds', async (t) => {
  const { port } = await adminPort(t);
  const sockets = Array.from({ length: 20 }, () => connect(port, '127.0.0.66'));
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await within(Promise.all(sockets.slice(8).map(closed)), 5000, 'the connections over 8 to be closed');
  t.pass('12 of 20 closed at once');
  t.equal(await get(port, '127.0.0.67', '/metrics'), 200, 'Prometheus is served meanwhile');
  const started = Date.now();
  // Never sent a byte: Node's header timeout (5 s, checked every second) applies from the connection's start.
  await within(Promise.all(sockets.slice(0, 8).map(closed)), 12_000, 'the idle connections to be closed');
  t.ok(Date.now() - started < 8000, `the 8 idle connections closed after ${Date.now() - started} ms`);
});

t.test('connections past the admin port\'s total are refused; localhost still gets in', async (t) => {
  const { app, port } = await adminPort(t);
  // 32 pods with 8 connections each fill the 256 the port allows pods in all.
  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  // Counted after the guard's own connection listener: once 256 are seen here, the pool is full.
  let seen = 0;
  const full = new Promise<void>((resolve) => app.admin.server.on('connection', () => { if (++seen === 256) resolve(); }));
  for (let pod = 0; pod < 32; pod++) for (let i = 0; i < 8; i++) sockets.push(connect(port, `127.0.1.${pod + 1}`));
  await within(full, 5000, 'the admin server to accept the 256 pod connections');
  const late = connect(port, '127.0.2.1');
  await within(closed(late), 3000, 'a 33rd pod\'s connection to be closed');
  t.pass('the 257th connection from a pod was closed');
  t.equal(await get(port, '127.0.0.1', '/healthz'), 200, 'the node itself is still answered');
});

t.test('oversized headers on the admin port get 431', async (t) => {
  const { port } = await adminPort(t);
  t.equal(await get(port, '127.0.0.66', '/metrics', { 'x-padding': 'a'.repeat(16 * 1024) }), 431);
  t.equal(await get(port, '127.0.0.66', '/healthz'), 200, 'and it keeps answering');
});

/** Keeps `perAddress` half-sent requests open from each address, reopening each one the server closes, until stopped. */
function halfSentFlood(port: number, addresses: readonly string[], perAddress: number): { stop(): void; refusedOnce: Promise<void> } {
  let flooding = true;
  const sockets = new Set<net.Socket>();
  let signalRefused: () => void = () => {};
  const refusedOnce = new Promise<void>((resolve) => (signalRefused = resolve));
  const open = (from: string) => {
    const socket = connect(port, from);
    sockets.add(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 10.0.0.1:9181\r\nX-Slow: ');
    socket.once('close', () => {
      sockets.delete(socket);
      signalRefused();
      if (flooding) setImmediate(open, from);
    });
  };
  for (const from of addresses) for (let i = 0; i < perAddress; i++) open(from);
  return {
    refusedOnce,
    stop() {
      flooding = false;
      for (const socket of sockets) socket.destroy();
    },
  };
}

const refusals = async (app: Built, server: string, reason: string) =>
  Number(new RegExp(`corridor_connections_refused_total\\{server="${server}",reason="${reason}"\\} (\\d+)`).exec(await app.metrics.registry.metrics())?.[1] ?? 0);

t.test('the kubelet probing from the node\'s address, and Prometheus from another node, are served while 40 pods hold every connection they may with half-sent requests', async (t) => {
  const app = await build(t, ['--host-ip', '127.0.0.9']);
  const flooders = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}`);
  for (const ip of flooders) app.kube.addPod(podInfo({ name: `flood-${ip}`, ip }));
  await app.admin.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.admin.server.address() as AddressInfo;
  const flood = halfSentFlood(port, flooders, 10);
  t.teardown(() => flood.stop());
  await within(flood.refusedOnce, 5000, 'the flood to reach the pods\' budget');

  const probes = [];
  for (let i = 0; i < 30; i++) probes.push(await get(port, '127.0.0.9', i % 2 ? '/healthz' : '/readyz'));
  t.same(probes.filter((code) => code !== 200 && code !== 503), [], 'all 30 probes from the node\'s address answered');
  t.equal(await get(port, '127.0.2.1', '/metrics'), 200, 'Prometheus (no pod of this node) is served from a pool of its own');
  t.ok((await refusals(app, 'admin', 'total-limit')) > 0, 'the pods\' pool was full: refusals counted');
  t.ok((await refusals(app, 'admin', 'caller-limit')) > 0, 'and each pod held at most its 8');
  const logged = app.logs.filter((line) => line.msg === 'connection refused: over its budget' && line.server === 'admin');
  t.ok(logged.length >= 1 && logged.length <= 2, `refusals logged at a bounded rate (${logged.length} lines)`);
});
