import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api, type V1PodSpec } from '@kubernetes/client-node';
import { runAuditCommand } from '../../src/cli/audit.js';
import { cachedControlPlaneBinaries, startControlPlane } from '../helpers/kube-apiserver.js';

/**
 * `corridor audit` against a real kube-apiserver (on etcd), as a user bound only to the built-in
 * `view` ClusterRole, as docs/corridor-admins.md tells admins. The binaries are the peers' cached builds
 * (scripts/build-kube-apiserver.sh, build-etcd.sh); this test never builds them.
 */

const ARN = 'arn:aws:iam::123456789012:role/';
const control = cachedControlPlaneBinaries();

t.test('audit reads a real kube-apiserver with only the view ClusterRole', { skip: control.ok ? false : control.reason }, async (t) => {
  if (!control.ok) return;
  const plane = await startControlPlane(t, control.binaries);
  t.comment(`kube-apiserver ${plane.version} at ${plane.server}`);
  const admin = plane.admin();
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);

  const namespace = (name: string, annotations: Record<string, string> = {}) => core.createNamespace({ body: { metadata: { name, annotations } } });
  await namespace('corridor');
  await namespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
  await namespace('etl', { 'iam.amazonaws.com/allowed-roles': `["${ARN}spark-etl"]` });
  const pod = async (
    ns: string,
    name: string,
    spec: Omit<V1PodSpec, 'containers'>,
    options: { labels?: Record<string, string>; ready?: boolean; containers?: V1PodSpec['containers'] } = {},
  ) => {
    const containers = options.containers ?? [{ name: 'app', image: 'registry.example/app:1' }];
    await core.createNamespacedPod({ namespace: ns, body: { metadata: { name, labels: options.labels }, spec: { ...spec, containers } } });
    if (options.ready === undefined) return;
    // No kubelet here: the status subresource says what one would.
    const current = await core.readNamespacedPod({ namespace: ns, name });
    current.status = { phase: 'Running', conditions: [{ type: 'Ready', status: options.ready ? 'True' : 'False' }] };
    await core.replaceNamespacedPodStatus({ namespace: ns, name, body: current });
  };
  // The chart's agent container, in web-identity mode.
  const agentContainer = { name: 'corridor', image: 'registry.example/corridor:1', args: ['agent'], env: [{ name: 'CORRIDOR_CREDENTIAL_MODE', value: 'web-identity' }] };
  await pod('corridor', 'corridor-a', { nodeName: 'node-a', hostNetwork: true }, { labels: { 'app.kubernetes.io/name': 'corridor' }, ready: true, containers: [agentContainer] });
  await pod('gha', 'driver', { nodeName: 'node-a' });
  await pod('gha', 'elsewhere', { nodeName: 'node-b' });
  await pod('gha', 'reader', { nodeName: 'node-a', serviceAccountName: 'reader' });
  await core.createNamespacedServiceAccount({ namespace: 'gha', body: { metadata: { name: 'reader', annotations: { 'eks.amazonaws.com/role-arn': `${ARN}spark-reader` } } } });

  // The auditor: a ServiceAccount whose only grant is `view`, cluster-wide.
  await core.createNamespacedServiceAccount({ namespace: 'corridor', body: { metadata: { name: 'auditor' } } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'corridor-auditor' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'auditor', namespace: 'corridor' }],
    },
  });
  // `view` is an aggregated role: its rules come from system:aggregate-to-view, copied in by the
  // controller manager's aggregation controller, which does not run here. Do what it would.
  const view = await rbac.readClusterRole({ name: 'view' });
  if ((view.rules ?? []).length === 0) {
    const parts = await rbac.listClusterRole({ labelSelector: 'rbac.authorization.k8s.io/aggregate-to-view=true' });
    view.rules = parts.items.flatMap((role) => role.rules ?? []);
    await rbac.replaceClusterRole({ name: 'view', body: view });
    t.comment(`view had no rules (no aggregation controller here): copied in the ${view.rules.length} of aggregate-to-view`);
  }
  const token = await core.createNamespacedServiceAccountToken({ namespace: 'corridor', name: 'auditor', body: { spec: { audiences: [], expirationSeconds: 600 } } });
  const kubeconfig = join(t.testdir({}), 'kubeconfig');
  writeFileSync(kubeconfig, plane.kubeConfigText(token.status?.token ?? ''));

  let out = '';
  let err = '';
  const code = await runAuditCommand(['--kubeconfig', kubeconfig, '--base-role-arn', ARN, '--service-account-roles', '--output', 'json'], (text) => (out += text), (text) => (err += text));
  t.equal(err, '', 'view is enough: nothing was refused');
  t.equal(code, 1);
  const report = JSON.parse(out);
  t.match(report.namespaces.find((ns: { name: string }) => ns.name === 'gha'), { defaultRole: `${ARN}spark-etl`, allowedRoles: [`${ARN}spark-*`], problem: null });
  t.same(
    report.pods.map((p: { namespace: string; pod: string; role: string | null; agent: string }) => [`${p.namespace}/${p.pod}`, p.role, p.agent]),
    [
      ['gha/driver', `${ARN}spark-etl`, 'ready'],
      ['gha/elsewhere', `${ARN}spark-etl`, 'none'],
      ['gha/reader', `${ARN}spark-reader`, 'ready'],
    ],
    'decisions as the agent makes them, the ServiceAccount role included; the agent\'s hostNetwork pod left out',
  );
  t.same(report.agents, [{ node: 'node-a', ready: true, pods: ['corridor-a'], sharedBridges: null, imdsPosture: null, credentialMode: 'web-identity' }]);
  t.equal(report.credentialMode, 'web-identity', 'read from the agent pod\'s spec, which view may read');
  t.same(
    report.pods.map((p: { pod: string; trustSubject: string | null }) => [p.pod, p.trustSubject]),
    [['driver', 'system:serviceaccount:gha:default'], ['elsewhere', 'system:serviceaccount:gha:default'], ['reader', 'system:serviceaccount:gha:reader']],
    'a pod on a node without an agent takes the mode every agent has',
  );
  t.match(report.notes, [/^the agents' \/metrics could not be read through the API server \(get pods\/proxy in namespace corridor, port 9181\): HTTP 403: pods "corridor-a:9181" is forbidden: User "system:serviceaccount:corridor:auditor" cannot get resource "pods\/proxy".*; shared pod bridges not checked$/], 'view gives no pods/proxy: a note, not a failure');
  t.same(
    report.findings.map((f: { kind: string }) => f.kind),
    ['shared-role', 'no-ready-agent'],
  );
  t.match(report.findings, [{ role: `${ARN}spark-etl`, namespaces: ['etl', 'gha'] }, { pod: 'elsewhere', node: 'node-b' }]);

  // docs/corridor-admins.md's narrower ClusterRole: list on namespaces, pods and serviceaccounts, nothing else.
  await rbac.createClusterRole({ body: { metadata: { name: 'corridor-audit' }, rules: [{ apiGroups: [''], resources: ['namespaces', 'pods', 'serviceaccounts'], verbs: ['list'] }] } });
  await core.createNamespacedServiceAccount({ namespace: 'corridor', body: { metadata: { name: 'lister' } } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'corridor-audit' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'corridor-audit' },
      subjects: [{ kind: 'ServiceAccount', name: 'lister', namespace: 'corridor' }],
    },
  });
  const lister = await core.createNamespacedServiceAccountToken({ namespace: 'corridor', name: 'lister', body: { spec: { audiences: [], expirationSeconds: 600 } } });
  writeFileSync(kubeconfig, plane.kubeConfigText(lister.status?.token ?? ''));
  let listed = '';
  err = '';
  t.equal(await runAuditCommand(['--kubeconfig', kubeconfig, '--base-role-arn', ARN, '--service-account-roles', '--output', 'json'], (text) => (listed += text), (text) => (err += text)), 1, 'the narrower ClusterRole is enough too');
  t.equal(err, '');
  const withoutNotes = ({ notes: _notes, ...rest }: { notes: string[] }) => rest;
  t.same(withoutNotes(JSON.parse(listed)), withoutNotes(report), 'and reads the same (its note names the other user)');

  // A ServiceAccount without the binding: a clear one-line refusal and exit 3 (could not ask).
  await core.createNamespacedServiceAccount({ namespace: 'corridor', body: { metadata: { name: 'nobody' } } });
  const nobody = await core.createNamespacedServiceAccountToken({ namespace: 'corridor', name: 'nobody', body: { spec: { audiences: [], expirationSeconds: 600 } } });
  writeFileSync(kubeconfig, plane.kubeConfigText(nobody.status?.token ?? ''));
  err = '';
  t.equal(await runAuditCommand(['--kubeconfig', kubeconfig, '--base-role-arn', ARN], () => t.fail('prints no report'), (text) => (err += text)), 3);
  t.match(err, /^corridor audit: cannot list [a-z ]+ from the API server at \S+ \(kubeconfig \S+, context \S+\): HTTP 403: [^\n]*forbidden[^\n]*\n$/);
});
