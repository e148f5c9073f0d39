import t from 'tap';
import { build, BASE_ROLE_ARN } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';

// Session policies through the app: decision -> session key -> AssumeRole request.
const CREDS = '/latest/meta-data/iam/security-credentials/';
const ROLE = `${BASE_ROLE_ARN}corridor-s3`;
const bucketPolicy = (prefix: string) =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${prefix}-*`, `arn:aws:s3:::${prefix}-*/*`] }] }, null, 2);
const compact = (text: string) => JSON.stringify(JSON.parse(text));

t.test('one role serves two corridors: each namespace\'s pods get a session narrowed by its own policy, one STS call per corridor', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': bucketPolicy('gha') });
  app.kube.setNamespace('gha1', {
    'iam.amazonaws.com/role': 'corridor-s3',
    'iam.amazonaws.com/session-policy': bucketPolicy('gha1'),
    'iam.amazonaws.com/session-policy-arns': '["arn:aws:iam::123456789012:policy/gha1-logs"]',
  });
  app.kube.addPod(podInfo({ name: 'runner-a', namespace: 'gha', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'runner-b', namespace: 'gha', ip: '10.0.0.8' }));
  app.kube.addPod(podInfo({ name: 'runner-c', namespace: 'gha1', ip: '10.0.0.9' }));
  await settle();

  const doc = async (ip: string) => JSON.parse((await app.imds.inject({ url: `${CREDS}corridor-s3`, remoteAddress: ip })).body) as { AccessKeyId: string };
  const [a, b, c] = [await doc('10.0.0.7'), await doc('10.0.0.8'), await doc('10.0.0.9')];
  t.equal(a.AccessKeyId, b.AccessKeyId, 'the pods of one corridor share its session');
  t.not(a.AccessKeyId, c.AccessKeyId, 'the other corridor has a session of its own');
  t.equal(app.assumer.calls.length, 2, 'one AssumeRole per corridor');
  const byNamespace = new Map(app.assumer.calls.map((call) => [call.roleSessionName.split('.')[1], call]));
  t.match(byNamespace.get('gha'), { roleArn: ROLE, policy: compact(bucketPolicy('gha')) });
  t.notOk(byNamespace.get('gha') && 'policyArns' in byNamespace.get('gha')!, 'no PolicyArns where none are annotated');
  t.match(byNamespace.get('gha1'), { roleArn: ROLE, policy: compact(bucketPolicy('gha1')), policyArns: ['arn:aws:iam::123456789012:policy/gha1-logs'] });
});

t.test('a malformed session policy denies its namespace\'s pods with 404 and a reason, and leaves other namespaces alone', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': '{"Version":"2012-10-17"' });
  app.kube.setNamespace('gha1', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy-arns': JSON.stringify(Array.from({ length: 11 }, (_, i) => `arn:aws:iam::123456789012:policy/p${i}`)) });
  app.kube.setNamespace('web', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': bucketPolicy('web') });
  app.kube.addPod(podInfo({ name: 'runner-a', namespace: 'gha', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'runner-c', namespace: 'gha1', ip: '10.0.0.9' }));
  app.kube.addPod(podInfo({ name: 'frontend', namespace: 'web', ip: '10.0.0.10' }));
  await settle();

  const broken = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  t.equal(broken.statusCode, 404);
  t.match(broken.body, /namespace gha has a malformed annotation: iam\.amazonaws\.com\/session-policy: not valid JSON/);
  const tooMany = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.9' });
  t.equal(tooMany.statusCode, 404);
  t.match(tooMany.body, /iam\.amazonaws\.com\/session-policy-arns: 11 distinct ARNs, over STS's 10/);
  const fine = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.10' });
  t.equal(fine.statusCode, 200, 'another namespace with the same role is unaffected');
  t.equal(fine.body, 'corridor-s3');

  t.equal(app.assumer.calls.filter((c) => c.roleSessionName.startsWith('corridor.gha')).length, 0, 'no STS call for a denied namespace');
  const audit = app.logs.filter((l) => l.component === 'audit' && l.msg === 'role decision');
  t.match(audit.find((l) => l.pod === 'runner-a'), { decision: 'deny', reason: 'malformed-annotation', detail: /session-policy: not valid JSON/ });
  const metrics = (await app.admin.inject({ url: '/metrics' })).body;
  t.match(metrics, /corridor_decisions_total\{outcome="denied",reason="malformed-annotation"\} 2/);
  const explained = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.match(explained, { decision: 'deny', reason: /^malformed-annotation: .*session-policy: not valid JSON/ });

  // Fixing the annotation applies without a restart.
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': bucketPolicy('gha') });
  await settle();
  t.equal((await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).statusCode, 200);
});
