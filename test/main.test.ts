import t from 'tap';
import { build } from './helpers/build-app.js';

const KEY = 'corridor.io/agent-not-ready';
const LISTEN_ON_LOOPBACK = ['--port', '0', '--admin-host', '127.0.0.1', '--admin-port', '0'];

t.test('the start-up taint leaves the node only once the agent serves: listening, and its first lists in', async (t) => {
  const agent = await build(t, ['--startup-taint', KEY, ...LISTEN_ON_LOOPBACK], undefined, { unsynced: true });
  agent.kube.setNode('node-a', [{ key: KEY, effect: 'NoExecute' }]);
  await agent.listen();
  await agent.time.advance(60_000);
  t.same(agent.kube.nodePatches, [], 'listening, but the first lists are not in: the taint stays');
  agent.kube.releaseLists();
  // The lists the reflectors gave up on are tried again after their backoff.
  await agent.time.advance(60_000);
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
