import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExplainCommand } from '../../src/cli/explain.js';
import { fakeKubeApi, makeNamespace, makePod, makeServiceAccount } from '../helpers/fake-kube-api.js';

async function explain(t: Parameters<typeof fakeKubeApi>[0], args: string[]) {
  const kube = await fakeKubeApi(t, {
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["spark-*"]', 'iam.amazonaws.com/role': 'spark-etl' }),
      makeNamespace('broken', { 'iam.amazonaws.com/allowed-roles': 'spark-*' }),
      makePod({ name: 'driver', namespace: 'gha', ip: '10.0.0.7' }),
      makePod({ name: 'rogue', namespace: 'gha', ip: '10.0.0.8', annotations: { 'iam.amazonaws.com/role': 'admin' } }),
      makePod({ name: 'irsa', namespace: 'gha', ip: '10.0.0.9', serviceAccountName: 'reader' }),
      makeServiceAccount('gha', 'reader', { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/spark-reader' }),
      makePod({ name: 'victim', namespace: 'broken', ip: '10.0.1.1' }),
      makeNamespace('scoped', { 'iam.amazonaws.com/role': 'corridor-s3', 'example.com/session-policy': '{"Version":"2012-10-17"}' }),
      makePod({ name: 'runner', namespace: 'scoped', ip: '10.0.1.2' }),
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'corridor-explain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  let printed = '';
  const code = await runExplainCommand(['--kubeconfig', join(dir, 'kubeconfig'), '--base-role-arn', 'arn:aws:iam::123456789012:role/', ...args], (text) => (printed += text));
  return { code, result: JSON.parse(printed) };
}

t.test('explain shows the role a pod gets from its namespace, and exits 0', async (t) => {
  const { code, result } = await explain(t, ['--namespace', 'gha', '--pod', 'driver']);
  t.equal(code, 0);
  t.match(result, { pod: 'driver', namespace: 'gha', decision: 'allow', role: 'arn:aws:iam::123456789012:role/spark-etl', source: 'namespace-default' });
});

t.test('explain shows why a pod is denied, and exits 1', async (t) => {
  const { code, result } = await explain(t, ['--namespace', 'gha', '--pod', 'rogue']);
  t.equal(code, 1);
  t.match(result, { decision: 'deny', requestedRole: 'arn:aws:iam::123456789012:role/admin', reason: /not-allowed: role admin is not allowed in namespace gha/ });
});

t.test('explain follows a ServiceAccount role only with --service-account-roles, as the agent does', async (t) => {
  t.match((await explain(t, ['--namespace', 'gha', '--pod', 'irsa'])).result, { role: 'arn:aws:iam::123456789012:role/spark-etl', source: 'namespace-default' });
  t.match((await explain(t, ['--namespace', 'gha', '--pod', 'irsa', '--service-account-roles'])).result, { role: 'arn:aws:iam::123456789012:role/spark-reader', source: 'service-account' });
});

t.test('explain names a malformed namespace annotation', async (t) => {
  const { code, result } = await explain(t, ['--namespace', 'broken', '--pod', 'victim']);
  t.equal(code, 1);
  t.match(result.reason, /malformed-annotation: .*not valid JSON/);
});

t.test('explain reads the session policy annotation by the configured key, as the agent does', async (t) => {
  t.match((await explain(t, ['--namespace', 'scoped', '--pod', 'runner'])).result, { decision: 'allow' }, 'the default key is not set');
  const { code, result } = await explain(t, ['--namespace', 'scoped', '--pod', 'runner', '--session-policy-annotation', 'example.com/session-policy']);
  t.equal(code, 1);
  t.match(result.reason, /malformed-annotation: .*example\.com\/session-policy: Statement must be/);
});

t.test('explain refuses a --base-role-arn that is no role ARN prefix, as the agent does, and exits 2', async (t) => {
  const stderr = t.capture(process.stderr, 'write', () => true);
  const code = await runExplainCommand(['--namespace', 'gha', '--pod', 'driver', '--base-role-arn', 'arn:aws:s3:::bucket'], () => t.fail('prints no explanation'));
  t.equal(code, 2);
  t.match(String(stderr()[0]?.args[0]), /--base-role-arn: "arn:aws:s3:::bucket" is not an IAM role ARN prefix/);
});
