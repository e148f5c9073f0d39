import t from 'tap';
import { build, BASE_ROLE_ARN, type Built } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';
import { createLogger } from '../../src/log/index.js';
import { sink } from '../helpers/log-sink.js';
import type { LogLine } from '../helpers/log-sink.js';

const DOC = '/latest/meta-data/iam/security-credentials/spark-etl';
const EXTENDED = '/latest/meta-data/iam/security-credentials-extended/spark-etl';
const MINUTE = 60_000;

const served = (app: Built): LogLine[] => app.logs.filter((l) => l.component === 'audit' && l.msg === 'credentials served');

async function withNamespace(t: Parameters<typeof build>[0], flags: string[] = []): Promise<Built> {
  const app = await build(t, flags);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  return app;
}

async function credentials(app: Built, ip: string, url = DOC): Promise<{ AccessKeyId: string; SecretAccessKey: string; Token: string; Expiration: string }> {
  const reply = await app.imds.inject({ url, remoteAddress: ip });
  if (reply.statusCode !== 200) throw new Error(`${url} from ${ip}: ${reply.statusCode} ${reply.body}`);
  return JSON.parse(reply.body);
}

t.test('a pod\'s first credentials write one audit line naming pod, ServiceAccount, node, role and AccessKeyId; the next 100 requests write none', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  await settle();
  const doc = await credentials(app, '10.0.0.7');
  const lines = served(app);
  t.equal(lines.length, 1);
  t.match(lines[0], {
    level: 'info',
    pod: 'spark-driver',
    namespace: 'gha',
    serviceAccount: 'spark',
    node: 'node-a',
    ip: '10.0.0.7',
    role: `${BASE_ROLE_ARN}spark-etl`,
    accessKeyId: doc.AccessKeyId,
    expiration: new Date(Date.parse(doc.Expiration)).toISOString(),
    assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.node-a',
  });
  for (let i = 0; i < 50; i++) await credentials(app, '10.0.0.7');
  for (let i = 0; i < 50; i++) await credentials(app, '10.0.0.7', EXTENDED);
  t.equal(served(app).length, 1, 'once per (pod, session), whichever credential path it asks');
});

t.test('a refreshed session is a new audit line for each pod that then receives it', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  const first = await credentials(app, '10.0.0.7');
  await app.time.advance(20 * MINUTE);
  t.equal(app.assumer.calls.length, 2, 'the session was renewed in the background');
  t.equal(served(app).length, 1, 'renewal alone writes nothing: no pod has the new keys yet');
  const second = await credentials(app, '10.0.0.7');
  t.not(second.AccessKeyId, first.AccessKeyId);
  await credentials(app, '10.0.0.7');
  t.same(served(app).map((l) => l.accessKeyId), [first.AccessKeyId, second.AccessKeyId]);
});

t.test('two pods sharing a session get one audit line each, with the same AccessKeyId', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'spark-executor', ip: '10.0.0.8' }));
  await settle();
  for (let i = 0; i < 3; i++) {
    await credentials(app, '10.0.0.7');
    await credentials(app, '10.0.0.8');
  }
  t.equal(app.assumer.calls.length, 1, 'namespace scope: one session');
  const lines = served(app);
  t.same(lines.map((l) => l.pod), ['spark-driver', 'spark-executor']);
  t.equal(lines[0]?.accessKeyId, lines[1]?.accessKeyId);
});

t.test('a dual-stack pod asking over IPv4 and IPv6 is one pod: one audit line', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', ips: ['10.0.0.7', 'fd00:10::7'] }));
  await settle();
  const v4 = await credentials(app, '10.0.0.7');
  const v6 = await credentials(app, 'fd00:10::7');
  t.equal(v6.AccessKeyId, v4.AccessKeyId);
  t.equal(served(app).length, 1);
});

t.test('an update of the pod object (a new PodInfo from the watch) is the same pod: no new line', async (t) => {
  const app = await withNamespace(t);
  const pod = app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  await credentials(app, '10.0.0.7');
  app.kube.updatePod(pod, { ...pod, annotations: { 'example.com/touched': 'yes' } });
  await settle();
  await credentials(app, '10.0.0.7');
  t.equal(app.assumer.calls.length, 1);
  t.equal(served(app).length, 1);
});

t.test('a pod whose first request waits for STS gets its audit line too', async (t) => {
  const app = await withNamespace(t);
  app.assumer.holdNext();
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  const pending = credentials(app, '10.0.0.7');
  await settle();
  t.equal(served(app).length, 0);
  app.assumer.release();
  const doc = await pending;
  t.match(served(app), [{ pod: 'spark-driver', accessKeyId: doc.AccessKeyId }]);
});

t.test('a denied pod and the iam/info path write no credentials line', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'sneaky', ip: '10.0.0.9', annotations: { 'iam.amazonaws.com/role': 'admin' } }));
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  t.equal((await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/admin', remoteAddress: '10.0.0.9' })).statusCode, 404);
  t.equal((await app.imds.inject({ url: '/latest/meta-data/iam/info', remoteAddress: '10.0.0.7' })).statusCode, 200);
  t.equal(served(app).length, 0);
});

t.test('neither the secret key nor the session token reach a log line, and the logger would redact them anyway', async (t) => {
  const app = await withNamespace(t);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  const doc = await credentials(app, '10.0.0.7');
  const text = JSON.stringify(app.logs);
  t.notOk(text.includes(doc.SecretAccessKey), 'no secret access key');
  t.notOk(text.includes(doc.Token), 'no session token');
  const line = served(app)[0]!;
  t.notOk('secretAccessKey' in line || 'sessionToken' in line || 'SecretAccessKey' in line || 'Token' in line);

  // Were a session's fields ever spread into the line, the one logger's redaction replaces them.
  const logs = sink();
  createLogger('info', logs)
    .child({ component: 'audit' })
    .info({ ...line, secretAccessKey: doc.SecretAccessKey, sessionToken: doc.Token, session: { secretAccessKey: doc.SecretAccessKey, sessionToken: doc.Token } }, 'credentials served');
  const redacted = JSON.stringify(logs.lines);
  t.notOk(redacted.includes(doc.SecretAccessKey));
  t.notOk(redacted.includes(doc.Token));
  t.match(logs.lines[0], { secretAccessKey: '[redacted]', sessionToken: '[redacted]', accessKeyId: doc.AccessKeyId });
});

t.test('pod scope: each pod gets its own session, with a RoleSessionName naming it, and its own audit line', async (t) => {
  const app = await withNamespace(t, ['--session-scope', 'pod']);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'spark-executor', ip: '10.0.0.8' }));
  await settle();
  t.same(app.assumer.calls.map((c) => c.roleSessionName).sort(), ['corridor.gha.spark-driver', 'corridor.gha.spark-executor']);
  t.ok(app.assumer.calls.every((c) => c.roleArn === `${BASE_ROLE_ARN}spark-etl`));
  const driver = await credentials(app, '10.0.0.7');
  const executor = await credentials(app, '10.0.0.8');
  t.not(driver.AccessKeyId, executor.AccessKeyId, 'no pod holds another pod\'s keys');
  await credentials(app, '10.0.0.7');
  t.equal(app.assumer.calls.length, 2, 'still one STS session per pod');
  t.match(served(app), [
    { pod: 'spark-driver', accessKeyId: driver.AccessKeyId, assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.spark-driver' },
    { pod: 'spark-executor', accessKeyId: executor.AccessKeyId, assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.spark-executor' },
  ]);
});

t.test('pod scope: a pod that leaves drops its session and its refresh; the others keep theirs', async (t) => {
  const app = await withNamespace(t, ['--session-scope', 'pod']);
  const driver = app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'spark-executor', ip: '10.0.0.8' }));
  await settle();
  t.equal(app.assumer.calls.length, 2, 'both prefetched');
  app.kube.removePod(driver);
  t.match(app.logs.filter((l) => l.msg === 'session dropped: no pod on this node uses it'), [{ pod: 'spark-driver', namespace: 'gha' }]);
  await app.time.advance(20 * MINUTE);
  t.same(app.assumer.calls.slice(2).map((c) => c.roleSessionName), ['corridor.gha.spark-executor'], 'only the remaining pod\'s session is renewed');
  await credentials(app, '10.0.0.8');
});

t.test('pod scope with session tags adds kubernetes-pod', async (t) => {
  const app = await withNamespace(t, ['--session-scope', 'pod', '--session-tags']);
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  t.same(app.assumer.calls[0]?.tags, { 'kubernetes-namespace': 'gha', 'kubernetes-node': 'node-a', 'kubernetes-pod': 'spark-driver' });
});
