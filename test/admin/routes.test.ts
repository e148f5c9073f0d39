import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { accessDenied } from '../helpers/fake-assumer.js';
import { settle } from '../helpers/fake-time.js';

t.test('healthz is always ok and readyz follows the first list', async (t) => {
  const app = await build(t, [], undefined, { unsynced: true });
  t.equal((await app.admin.inject({ url: '/healthz' })).statusCode, 200);
  t.equal((await app.admin.inject({ url: '/readyz' })).statusCode, 503);
  app.kube.releaseLists();
  await app.directory.whenReady();
  t.equal((await app.admin.inject({ url: '/readyz' })).statusCode, 200);
});

t.test('metrics are exposed in Prometheus text with corridor_ names', async (t) => {
  const app = await build(t);
  const res = await app.admin.inject({ url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  for (const name of ['corridor_requests_total', 'corridor_sts_calls_total', 'corridor_credential_cache_total', 'corridor_sessions', 'corridor_session_min_remaining_seconds', 'corridor_decisions_total', 'corridor_watch_restarts_total', 'corridor_pods', 'corridor_ready', 'corridor_build_info']) {
    t.match(res.body, new RegExp(`# TYPE ${name} `), name);
  }
});

t.test('explain tells which pod an IP is, which role it gets and why', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
  app.kube.addPod(podInfo({ name: 'reader', ip: '10.0.0.7', annotations: { 'iam.amazonaws.com/role': 'spark-reader' } }));
  app.kube.addPod(podInfo({ name: 'intruder', ip: '10.0.0.8', annotations: { 'iam.amazonaws.com/role': 'admin' } }));
  await settle();
  const allowed = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.match(allowed, { pod: 'reader', namespace: 'gha', decision: 'allow', role: 'arn:aws:iam::123456789012:role/spark-reader', source: 'pod-annotation' });
  t.match(allowed.credentials.expiration, /Z$/);
  const denied = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.8' })).json();
  t.match(denied, { pod: 'intruder', decision: 'deny', requestedRole: 'arn:aws:iam::123456789012:role/admin', reason: /not-allowed/ });
  t.equal((await app.admin.inject({ url: '/debug/explain?ip=<script>' })).statusCode, 400);
});

t.test('explain shows the STS error kept for a role whose trust policy is missing', async (t) => {
  const app = await build(t);
  app.assumer.failWith = accessDenied();
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'p', ip: '10.0.0.7' }));
  await settle();
  const res = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.match(res, { decision: 'allow', credentials: { expiration: null, lastError: { code: 'AccessDenied' } } });
});
