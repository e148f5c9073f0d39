import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExplainCommand } from '../../src/cli/explain.js';
import { fakeKubeApi, makeNamespace, makePod, makeServiceAccount, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { apiFront } from '../helpers/api-front.js';

type Test = Parameters<typeof fakeKubeApi>[0];

/** Runs explain on a fake cluster; `connect` may write another kubeconfig (a proxy's, a broken one). */
async function explain(t: Test, args: string[], connect?: (kube: FakeKubeApi, kubeconfig: string) => Promise<void> | void) {
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
  await connect?.(kube, join(dir, 'kubeconfig'));
  let printed = '';
  let errors = '';
  const code = await runExplainCommand(['--kubeconfig', join(dir, 'kubeconfig'), '--base-role-arn', 'arn:aws:iam::123456789012:role/', ...args], (text) => (printed += text), (text) => (errors += text));
  return { code, result: printed === '' ? undefined : JSON.parse(printed), errors };
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

t.test('with --credential-mode web-identity explain names the ServiceAccount the role must trust, as the agent\'s /debug/explain does', async (t) => {
  const { code, result } = await explain(t, ['--namespace', 'gha', '--pod', 'irsa', '--credential-mode', 'web-identity']);
  t.equal(code, 0);
  t.match(result, { decision: 'allow', credentialMode: 'web-identity', trustSubject: 'system:serviceaccount:gha:reader' });
  const denied = await explain(t, ['--namespace', 'gha', '--pod', 'rogue', '--credential-mode', 'web-identity']);
  t.match(denied.result, { decision: 'deny', trustSubject: 'system:serviceaccount:gha:default' }, 'a denied pod too: the subject is the pod\'s, whatever the decision');
});

t.test('in node-role mode, the default, explain shows no trust subject: roles trust the node role', async (t) => {
  const { result } = await explain(t, ['--namespace', 'gha', '--pod', 'irsa']);
  t.match(result, { credentialMode: 'node-role', trustSubject: null });
});

t.test('explain refuses a --credential-mode the agent does not know, and exits 2', async (t) => {
  const { code, result, errors } = await explain(t, ['--namespace', 'gha', '--pod', 'driver', '--credential-mode', 'irsa']);
  t.equal(code, 2);
  t.equal(result, undefined);
  t.match(errors, /--credential-mode/);
});

t.test('explain refuses a --base-role-arn that is no role ARN prefix, as the agent does, and exits 2', async (t) => {
  const stderr = t.capture(process.stderr, 'write', () => true);
  const code = await runExplainCommand(['--namespace', 'gha', '--pod', 'driver', '--base-role-arn', 'arn:aws:s3:::bucket'], () => t.fail('prints no explanation'));
  t.equal(code, 2);
  t.match(String(stderr()[0]?.args[0]), /--base-role-arn: "arn:aws:s3:::bucket" is not an IAM role ARN prefix/);
});

t.test('through `kubectl proxy` (a plain-HTTP server, no TLS settings, no credentials in the kubeconfig) explain reads the pod', async (t) => {
  let proxyRequests = () => 0;
  const { code, result, errors } = await explain(t, ['--namespace', 'gha', '--pod', 'driver'], async (kube, kubeconfig) => {
    const proxy = await apiFront(t, kube, { injectToken: true });
    proxyRequests = proxy.requests;
    writeFileSync(kubeconfig, proxy.kubeConfigText);
  });
  t.equal(errors, '');
  t.equal(code, 0);
  t.match(result, { pod: 'driver', decision: 'allow', role: 'arn:aws:iam::123456789012:role/spark-etl' });
  t.equal(proxyRequests(), 2, 'the pod and its namespace, through the proxy');
});

t.test('an API server that cannot be asked exits 3 (never 1, the code for denied) with one line naming the server, the kubeconfig and the cause', async (t) => {
  const down = await explain(t, ['--namespace', 'gha', '--pod', 'driver'], (kube) => kube.setDown(true, 'reset'));
  t.same([down.code, down.result], [3, undefined]);
  t.match(down.errors, /^corridor explain: cannot read from the API server at http:\/\/127\.0\.0\.1:\d+ \(kubeconfig \S+kubeconfig, context fake\): .+\n$/);

  const refused = await explain(t, ['--namespace', 'gha', '--pod', 'driver'], (kube) => {
    kube.token = 'rotated';
  });
  t.equal(refused.code, 3);
  t.match(refused.errors, /: HTTP 401: Unauthorized\n$/);

  const noPod = await explain(t, ['--namespace', 'gha', '--pod', 'nobody']);
  t.equal(noPod.code, 3);
  t.match(noPod.errors, /: HTTP 404: pods "nobody" not found\n$/);

  const missing = await explain(t, ['--namespace', 'gha', '--pod', 'driver', '--kubeconfig', '/nonexistent/kubeconfig']);
  t.equal(missing.code, 3);
  t.match(missing.errors, /^corridor explain: cannot load kubeconfig \/nonexistent\/kubeconfig: /);
});
