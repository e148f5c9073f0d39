import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';

const CREDS = '/latest/meta-data/iam/security-credentials/';

// Short role names and globs without --base-role-arn, through the app: they name no account, so they allow nothing.
t.test('without a base ARN a pod whose role only a short glob allows gets 404 with no-base-role-arn in logs, metrics and explain', async (t) => {
  const app = await build(t, [], undefined, { noBaseRoleArn: true });
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', annotations: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/spark-admin' } }));
  app.kube.addPod(podInfo({ name: 'spark-exec', ip: '10.0.0.8', annotations: { 'iam.amazonaws.com/role': 'spark-etl' } }));
  await settle();
  for (const ip of ['10.0.0.7', '10.0.0.8']) {
    const res = await app.imds.inject({ url: CREDS, remoteAddress: ip });
    t.equal(res.statusCode, 404, `${ip} is denied`);
    t.match(res.body, /--base-role-arn.*set --base-role-arn or name full role ARNs/);
  }
  t.equal(app.assumer.calls.length, 0, 'no STS call for either pod');
  const audit = app.logs.filter((l) => l.component === 'audit');
  t.match(audit, [
    { pod: 'spark-driver', decision: 'deny', reason: 'no-base-role-arn' },
    { pod: 'spark-exec', decision: 'deny', reason: 'no-base-role-arn' },
  ]);
  const metrics = (await app.admin.inject({ url: '/metrics' })).body;
  t.match(metrics, /corridor_decisions_total\{outcome="denied",reason="no-base-role-arn"\} 2/);
  const explained = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.match(explained, { pod: 'spark-driver', decision: 'deny', role: null, reason: /^no-base-role-arn: .*set --base-role-arn or name full role ARNs/ });
});
