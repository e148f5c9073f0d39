import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';

// Log lines a pod can cause at will are written once, then counted per interval: a pod cannot
// turn the agent's log into a flood (or push other lines out of a node's log rotation).

t.test('300 failed passthrough requests while the upstream is down write one line, then one line per 10 s with the count', async (t) => {
  const app = await build(t, ['--rate-limit', '0'], { get: async () => { throw new Error('connect ECONNREFUSED 169.254.169.254:80'); } });
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  for (let i = 0; i < 300; i++) t.equal((await app.imds.inject({ url: '/latest/meta-data/placement/region', remoteAddress: '10.0.0.7' })).statusCode, 502);
  const failed = () => app.logs.filter((line) => line.msg === 'metadata passthrough failed');
  t.equal(failed().length, 1, 'one line for the first failure');
  t.match(failed()[0], { level: 'warn', path: '/latest/meta-data/placement/region', err: /ECONNREFUSED/ });
  await app.time.advance(10_000);
  t.equal(failed().length, 2);
  t.match(failed()[1], { path: '/latest/meta-data/placement/region', repeated: 299, withinSeconds: 10 });
  t.match(await app.metrics.registry.metrics(), /corridor_requests_total\{route="passthrough",code="502"\} 300/, 'every failure is still counted');
});

t.test('100 distinct unknown sources write one audit line, then a count per interval; pods\' own decisions are never throttled', async (t) => {
  const app = await build(t, ['--rate-limit', '0']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  for (let i = 0; i < 100; i++) {
    const res = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: `10.1.${i >> 8}.${i & 255}` });
    t.equal(res.statusCode, 404);
  }
  const unknown = () => app.logs.filter((line) => line.component === 'audit' && line.reason === 'unknown-pod');
  t.equal(unknown().length, 1, 'the first unknown source is logged');
  t.match(unknown()[0], { level: 'warn', decision: 'deny', ip: '10.1.0.0', msg: 'role decision' });
  await app.time.advance(10_000);
  t.match(unknown()[1], { reason: 'unknown-pod', repeated: 99, withinSeconds: 10 });
  t.match(await app.metrics.registry.metrics(), /corridor_decisions_total\{outcome="denied",reason="unknown-pod"\} 100/, 'every denial is counted');

  for (let i = 0; i < 20; i++) app.kube.addPod(podInfo({ name: `p${i}`, ip: `10.0.0.${i + 10}`, annotations: { 'iam.amazonaws.com/role': 'admin' } }));
  for (let i = 0; i < 20; i++) await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: `10.0.0.${i + 10}` });
  t.equal(app.logs.filter((line) => line.component === 'audit' && line.reason === 'not-allowed').length, 20, 'each pod\'s denial has its own line');
});
