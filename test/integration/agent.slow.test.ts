import t from 'tap';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { startMoto } from '../helpers/moto.js';
import { startHarness, type Harness } from '../helpers/agent-harness.js';

const CREDS = '/latest/meta-data/iam/security-credentials/';

const corridor = () => [
  makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }),
  makeNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' }),
  makePod({ name: 'spark-driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
  makePod({ name: 'writer', namespace: 'gha', ip: '127.0.0.3', nodeName: 'node-a', annotations: { 'iam.amazonaws.com/role': 'spark-writer' } }),
  makePod({ name: 'intruder', namespace: 'gha1', ip: '127.0.0.4', nodeName: 'node-a', annotations: { 'iam.amazonaws.com/role': 'spark-etl' } }),
  makePod({ name: 'elsewhere', namespace: 'gha', ip: '127.0.0.5', nodeName: 'node-b' }),
];

async function callerArn(moto: string, doc: string): Promise<string | undefined> {
  const creds = JSON.parse(doc);
  const sts = new STSClient({ region: 'us-east-1', endpoint: moto, credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.Token } });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
  } finally {
    sts.destroy();
  }
}

async function credentialsOf(h: Harness, ip: string) {
  const token = (await h.request(ip, '/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '300' } })).body;
  const headers = { 'x-aws-ec2-metadata-token': token };
  const list = await h.request(ip, CREDS, { headers });
  if (list.status !== 200) return { list, doc: undefined };
  return { list, doc: await h.request(ip, `${CREDS}${list.body}`, { headers }) };
}

t.test('against moto: each pod gets its corridor\'s role, and no pod gets another\'s', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, { objects: corridor(), stsEndpoint: moto.endpoint });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');

  const driver = await credentialsOf(h, '127.0.0.2');
  t.equal(driver.list.body, 'spark-etl');
  t.equal(driver.doc?.status, 200);
  t.equal(await callerArn(moto.endpoint, driver.doc!.body), 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.node-a');

  const writer = await credentialsOf(h, '127.0.0.3');
  t.equal(await callerArn(moto.endpoint, writer.doc!.body), 'arn:aws:sts::123456789012:assumed-role/spark-writer/corridor.gha.node-a');

  const intruder = await credentialsOf(h, '127.0.0.4');
  t.equal(intruder.list.status, 404, 'a pod asking for another corridor\'s role gets nothing');
  t.match(intruder.list.body, /not allowed in namespace gha1/);

  const elsewhere = await credentialsOf(h, '127.0.0.5');
  t.equal(elsewhere.list.status, 404, 'a pod of another node never counts');

  const expiration = JSON.parse(driver.doc!.body).Expiration as string;
  t.match(expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'moto\'s microseconds are reformatted');
  const audit = h.logs.filter((l) => l.component === 'audit');
  t.ok(audit.some((l) => l.pod === 'intruder' && l.decision === 'deny' && l.reason === 'not-allowed'));
  t.notMatch(JSON.stringify(h.logs), JSON.parse(driver.doc!.body).SecretAccessKey, 'no secret in any log line');
});

t.test('against moto, --session-scope=pod: STS accepts each pod\'s RoleSessionName, cut or not, and the assumed-role ARN names the pod', async (t) => {
  const moto = await startMoto(t);
  const longName = 'spark-etl-nightly-aggregation-driver-0123456789abcdef-7d9f8c6b5-x2x9k';
  const objects = [...corridor(), makePod({ name: longName, namespace: 'gha', ip: '127.0.0.6', nodeName: 'node-a' })];
  const h = await startHarness(t, { objects, stsEndpoint: moto.endpoint, flags: ['--session-scope', 'pod'] });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');

  const driver = await credentialsOf(h, '127.0.0.2');
  t.equal(driver.doc?.status, 200);
  t.equal(await callerArn(moto.endpoint, driver.doc!.body), 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.spark-driver');

  const long = await credentialsOf(h, '127.0.0.6');
  t.equal(long.doc?.status, 200, 'a cut name is accepted');
  const arn = await callerArn(moto.endpoint, long.doc!.body);
  t.match(arn, /^arn:aws:sts::123456789012:assumed-role\/spark-etl\/corridor\.gha\.spark-etl-nightly-aggregation-driver-01234_[0-9a-f]{8}$/);
  t.equal(arn!.split('/').pop()!.length, 64);
  t.not(JSON.parse(long.doc!.body).AccessKeyId, JSON.parse(driver.doc!.body).AccessKeyId, 'one session per pod');

  const served = h.logs.filter((l) => l.component === 'audit' && l.msg === 'credentials served');
  t.match(served.find((l) => l.pod === longName), { namespace: 'gha', node: 'node-a', accessKeyId: JSON.parse(long.doc!.body).AccessKeyId, assumedRoleArn: arn });
  t.notMatch(JSON.stringify(h.logs), JSON.parse(long.doc!.body).SecretAccessKey, 'no secret in any log line');
});

// One role, two corridors narrowed by their own session policies, on STS's real wire format.
t.test('against moto: two namespaces share one role, each AssumeRole carries its own session policy, and a malformed one denies only its namespace', async (t) => {
  const moto = await startMoto(t);
  const bucketPolicy = (prefix: string) =>
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${prefix}-*`, `arn:aws:s3:::${prefix}-*/*`] }] }, null, 2);
  const objects = [
    makeNamespace('gha', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': bucketPolicy('gha') }),
    makeNamespace('gha1', {
      'iam.amazonaws.com/role': 'corridor-s3',
      'iam.amazonaws.com/session-policy': bucketPolicy('gha1'),
      'iam.amazonaws.com/session-policy-arns': '["arn:aws:iam::123456789012:policy/gha1-logs","arn:aws:iam::aws:policy/ReadOnlyAccess"]',
    }),
    makeNamespace('broken', { 'iam.amazonaws.com/role': 'corridor-s3', 'iam.amazonaws.com/session-policy': '{"Statement":[]}' }),
    makePod({ name: 'runner', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
    makePod({ name: 'runner', namespace: 'gha1', ip: '127.0.0.3', nodeName: 'node-a' }),
    makePod({ name: 'runner', namespace: 'broken', ip: '127.0.0.4', nodeName: 'node-a' }),
  ];
  const h = await startHarness(t, { objects, stsEndpoint: moto.endpoint });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');

  const gha = await credentialsOf(h, '127.0.0.2');
  const gha1 = await credentialsOf(h, '127.0.0.3');
  t.equal(gha.doc?.status, 200, 'moto accepts Policy');
  t.equal(gha1.doc?.status, 200, 'moto accepts Policy with PolicyArns');
  t.equal(await callerArn(moto.endpoint, gha.doc!.body), 'arn:aws:sts::123456789012:assumed-role/corridor-s3/corridor.gha.node-a');
  t.equal(await callerArn(moto.endpoint, gha1.doc!.body), 'arn:aws:sts::123456789012:assumed-role/corridor-s3/corridor.gha1.node-a');
  t.not(JSON.parse(gha.doc!.body).AccessKeyId, JSON.parse(gha1.doc!.body).AccessKeyId, 'a session per corridor');

  // moto ignores session policies for permissions but keeps each AssumedRole with the Policy it received.
  const data = (await (await fetch(`${moto.endpoint}/moto-api/data.json`)).json()) as { sts: { AssumedRole: Array<{ session_name: string; policy: string | null }> } };
  const policyOf = (session: string) => data.sts.AssumedRole.find((r) => r.session_name === session)?.policy;
  t.equal(policyOf('corridor.gha.node-a'), JSON.stringify(JSON.parse(bucketPolicy('gha'))), 'gha\'s policy, compact, on the wire');
  t.equal(policyOf('corridor.gha1.node-a'), JSON.stringify(JSON.parse(bucketPolicy('gha1'))), 'gha1\'s policy, compact, on the wire');

  const broken = await credentialsOf(h, '127.0.0.4');
  t.equal(broken.list.status, 404);
  t.match(broken.list.body, /namespace broken has a malformed annotation: iam\.amazonaws\.com\/session-policy: Version must be/);
  t.equal(policyOf('corridor.broken.node-a'), undefined, 'no STS call for it');
});

t.test('pods that start, change and finish on a running agent are followed through the watch', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, { objects: corridor(), stsEndpoint: moto.endpoint });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');

  // A pod that asks right after it was created waits for the watch instead of failing.
  h.kube.upsert(makePod({ name: 'late', namespace: 'gha', ip: '127.0.0.9', nodeName: 'node-a' }));
  t.equal((await h.request('127.0.0.9', CREDS)).body, 'spark-etl');

  const finished = h.nextChange();
  h.kube.modifyPod('gha', 'late', (pod) => { (pod.status as Record<string, unknown>).phase = 'Succeeded'; });
  await within(finished, 5000, 'the pod to finish');
  t.equal((await h.request('127.0.0.9', CREDS)).status, 404, 'a pod that finished no longer gets credentials');

  const reused = h.nextChange();
  h.kube.upsert(makePod({ name: 'next', namespace: 'gha1', ip: '127.0.0.9', nodeName: 'node-a' }));
  await within(reused, 5000, 'the new pod');
  t.equal((await h.request('127.0.0.9', CREDS)).body, 'gha1-ingest', 'the IP\'s new owner gets its own role, never the old one\'s');

  const annotated = h.nextChange();
  h.kube.annotateNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-batch' });
  await within(annotated, 5000, 'the namespace change');
  t.equal((await h.request('127.0.0.9', CREDS)).body, 'gha1-batch', 'a corridor admin\'s annotation change applies without a restart');
});

t.test('the admin server reports ready, STS calls and decisions', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, { objects: corridor(), stsEndpoint: moto.endpoint });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  t.equal((await fetch(`${h.agent.adminUrl}/readyz`)).status, 200);
  await credentialsOf(h, '127.0.0.2');
  await credentialsOf(h, '127.0.0.4');
  const metrics = await (await fetch(`${h.agent.adminUrl}/metrics`)).text();
  t.match(metrics, /corridor_sts_calls_total\{result="success"\} [1-9]/);
  t.match(metrics, /corridor_decisions_total\{outcome="denied",reason="not-allowed"\} 1/);
  t.match(metrics, /corridor_ready 1/);
  t.match(metrics, /corridor_pods 3/, 'the node\'s three pods, not the other node\'s');
  t.match(metrics, /corridor_session_min_remaining_seconds 3[0-9]{3}/);
  const explain = await (await fetch(`${h.agent.adminUrl}/debug/explain?ip=127.0.0.2`)).json();
  t.match(explain, { pod: 'spark-driver', namespace: 'gha', decision: 'allow', role: 'arn:aws:iam::123456789012:role/spark-etl' });
});

t.test('with the API server gone mid-run the agent keeps serving pods it knows, and stays ready', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, { objects: corridor(), stsEndpoint: moto.endpoint });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  h.kube.setDown(true, 'reset');
  h.kube.closeWatches();
  const driver = await credentialsOf(h, '127.0.0.2');
  t.equal(driver.doc?.status, 200, 'credentials served from the cached pod index');
  t.equal((await fetch(`${h.agent.adminUrl}/readyz`)).status, 200, 'still ready: the cache is good');
  h.kube.setDown(false);
  const back = h.nextChange();
  h.kube.upsert(makePod({ name: 'after-outage', namespace: 'gha', ip: '127.0.0.10', nodeName: 'node-a' }));
  await within(back, 15_000, 'the watch to come back');
  t.equal((await h.request('127.0.0.10', CREDS)).body, 'spark-etl', 'changes flow again after the API server returns');
});
