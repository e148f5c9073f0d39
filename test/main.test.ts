import t from 'tap';
import { spawn } from 'node:child_process';
import { build } from './helpers/build-app.js';

const KEY = 'corridor.io/agent-not-ready';
const LISTEN_ON_LOOPBACK = ['--port', '0', '--admin-host', '127.0.0.1', '--admin-port', '0'];

t.test('the start-up taint leaves the node only once the agent serves: its first lists in, then the metadata port open', async (t) => {
  const agent = await build(t, ['--startup-taint', KEY, ...LISTEN_ON_LOOPBACK], undefined, { unsynced: true });
  agent.kube.setNode('node-a', [{ key: KEY, effect: 'NoExecute' }]);
  const listening = agent.listen();
  await agent.time.advance(60_000);
  t.same(agent.kube.nodePatches, [], 'the first lists are not in: the taint stays');
  agent.kube.releaseLists();
  // The lists the reflectors gave up on are tried again after their backoff.
  await agent.time.advance(60_000);
  await listening;
  await agent.waitForLog((line) => line.msg === 'start-up taint removed: pods may be scheduled on this node');
  t.same(agent.kube.taintsOf('node-a'), [], 'then it goes');
  t.equal(agent.kube.nodePatches.length, 1);
});

t.test('an agent that has its lists but does not listen leaves the taint: pods must not come before it answers', async (t) => {
  const agent = await build(t, ['--startup-taint', KEY]);
  agent.kube.setNode('node-a', [{ key: KEY, effect: 'NoExecute' }]);
  await agent.time.advance(60_000);
  t.same(agent.kube.nodePatches, []);
  t.same(agent.kube.taintsOf('node-a'), [{ key: KEY, effect: 'NoExecute' }]);
});

t.test('without --startup-taint the agent never reads or patches its node', async (t) => {
  const agent = await build(t, LISTEN_ON_LOOPBACK);
  agent.kube.setNode('node-a', [{ key: KEY, effect: 'NoExecute' }]);
  agent.kube.afterNodeRead = () => t.fail('the node was read');
  await agent.listen();
  await agent.time.advance(60_000);
  t.same(agent.kube.nodePatches, []);
});

t.test('closing the agent while the removal retries stops it', async (t) => {
  const agent = await build(t, ['--startup-taint', KEY, ...LISTEN_ON_LOOPBACK]);
  agent.kube.setNode('node-a', [{ key: KEY, effect: 'NoExecute' }]);
  agent.kube.nodeFailures.push(503, 503, 503, 503, 503, 503, 503, 503);
  await agent.listen();
  await agent.waitForLog((line) => line.msg === 'removing the start-up taint failed; retrying');
  await agent.close();
  t.equal(agent.time.pendingTimers, 0, 'no retry left scheduled');
});

t.test('the node\'s metadata posture is reported once: a warning and corridor_node_imds_posture when IMDSv1 is allowed', async (t) => {
  const open = await build(t, [], { get: async () => ({ status: 404, body: '', contentType: undefined }), posture: async () => 'imdsv1-allowed' });
  const warning = await open.waitForLog((line) => line.component === 'node-metadata');
  t.match(warning, { level: 'warn', posture: 'imdsv1-allowed', msg: /answers without a token \(IMDSv1\).*require IMDSv2 with a PUT response hop limit of 1/ });
  const metrics = (await open.admin.inject({ url: '/metrics' })).body;
  t.match(metrics, /^corridor_node_imds_posture\{posture="imdsv1-allowed"\} 1$/m);
  const closed = await build(t);
  t.match(await closed.waitForLog((line) => line.component === 'node-metadata'), { level: 'info', posture: 'imdsv2-required' });
  t.match((await closed.admin.inject({ url: '/metrics' })).body, /^corridor_node_imds_posture\{posture="imdsv2-required"\} 1$/m);
});

t.test('an agent stopped before it serves has nothing to hand over', async (t) => {
  const agent = await build(t, ['--handover-timeout', '15s', ...LISTEN_ON_LOOPBACK], undefined, { unsynced: true });
  const listening = agent.listen();
  listening.catch(() => undefined);
  t.same(await agent.handOver(), { outcome: 'not-serving' });
  await agent.close();
  await t.rejects(listening, /closed before it could serve/, 'and it never opens the metadata port');
});

t.test('with no successor on the metadata port, a stopping agent serves on for --handover-timeout and says so', async (t) => {
  const agent = await build(t, ['--handover-timeout', '2s', ...LISTEN_ON_LOOPBACK]);
  await agent.listen();
  const handover = agent.handOver();
  await agent.time.advance(2000);
  t.same(await handover, { outcome: 'timeout', waitedMs: 2000 });
  await agent.waitForLog((line) => line.msg === 'no other agent listens on the metadata port: stopping anyway');
});

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
t.test('a successor listening beside it (SO_REUSEPORT): the agent stops accepting and lets its connections finish', { skip: major < 22 || (major === 22 && minor < 12) ? `reusePort needs Node.js 22.12 or later (${process.version})` : false }, async (t) => {
  const agent = await build(t, ['--handover-timeout', '15s', ...LISTEN_ON_LOOPBACK]);
  const { imdsUrl } = await agent.listen();
  // The successor is another process: the agent tells its own sockets from others' by this process's fds.
  const options = JSON.stringify({ host: '127.0.0.1', port: Number(new URL(imdsUrl).port), reusePort: true });
  const successor = spawn(process.execPath, ['-e', `require('node:net').createServer((s) => s.end()).listen(${options}, () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void successor.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    successor.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
    successor.once('exit', (code) => reject(new Error(`the successor exited (${code})`)));
  });
  const handover = await agent.handOver();
  t.equal(handover.outcome, 'successor');
  const drained = await agent.waitForLog((line) => typeof line.drained === 'boolean');
  t.equal(drained.drained, true);
  t.notOk(agent.imds.server.listening, 'the metadata port is the successor\'s alone');
});
