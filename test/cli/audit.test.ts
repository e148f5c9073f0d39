import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAuditCommand } from '../../src/cli/audit.js';
import { fakeKubeApi, makeNamespace, makePod, makeServiceAccount, type FakeKubeApi, type KubeObject } from '../helpers/fake-kube-api.js';
import { apiFront } from '../helpers/api-front.js';

type Test = Parameters<typeof fakeKubeApi>[0];

const ARN = 'arn:aws:iam::123456789012:role/';
const ROLE = 'iam.amazonaws.com/role';
const ALLOWED = 'iam.amazonaws.com/allowed-roles';

/**
 * A corridor agent pod on `node`, as the DaemonSet makes it (hostNetwork, the chart's name label,
 * the `corridor` container running `agent` with the chart's environment: `env` adds to it).
 */
function agentPod(
  node: string,
  ready = true,
  labels: Record<string, string> = { 'app.kubernetes.io/name': 'corridor' },
  namespace = 'corridor',
  env: ReadonlyArray<Record<string, unknown>> = [],
  args: readonly string[] = [],
): KubeObject {
  const pod = makePod({ name: `corridor-${node}`, namespace, nodeName: node, hostNetwork: true, ip: '192.0.2.1', labels });
  pod.spec = {
    ...pod.spec,
    containers: [
      {
        name: 'corridor',
        image: 'ghcr.io/corridor-io/corridor:0.1.0',
        args: ['agent', ...args],
        env: [{ name: 'CORRIDOR_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }, ...env],
      },
    ],
  };
  pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  return pod;
}

const WEB_IDENTITY_ENV = [{ name: 'CORRIDOR_CREDENTIAL_MODE', value: 'web-identity' }];

/** The demo's cluster (run-demo.ts), with its agent running as a pod: no findings. */
const DEMO: readonly KubeObject[] = [
  makeNamespace('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' }),
  makeNamespace('gha1', { [ROLE]: 'gha1-ingest' }),
  makePod({ name: 'spark-driver', namespace: 'gha', ip: '10.0.0.2', nodeName: 'node-a' }),
  makePod({ name: 'spark-writer', namespace: 'gha', ip: '10.0.0.3', nodeName: 'node-a', annotations: { [ROLE]: 'spark-writer' } }),
  makePod({ name: 'intruder', namespace: 'gha1', ip: '10.0.0.4', nodeName: 'node-a', annotations: { [ROLE]: 'spark-etl' } }),
  agentPod('node-a'),
];

interface Run {
  code: number;
  out: string;
  err: string;
  kube: FakeKubeApi;
}

/** What the agents' /metrics say of their node's pod network: no shared bridge, unless a test says otherwise. */
type AgentMetrics = (pod: string) => string | undefined | Promise<string | undefined>;
const ROUTED: AgentMetrics = () => 'corridor_pods 3\ncorridor_pod_network_shared_bridges 0\ncorridor_node_imds_posture{posture="imdsv2-required"} 1\n';

async function audit(
  t: Test,
  objects: readonly KubeObject[],
  args: string[] = [],
  kubeArgs?: (kube: FakeKubeApi, kubeconfig: string) => string[] | Promise<string[]>,
  agentMetrics: AgentMetrics = ROUTED,
): Promise<Run> {
  const kube = await fakeKubeApi(t, { objects });
  // The stand-in behind a front that plays the API server's pod proxy to the agents' admin port.
  const front = await apiFront(t, kube, { podProxy: ({ pod, port, path }) => (port === '9181' && path === 'metrics' ? agentMetrics(pod) : undefined) });
  const kubeconfig = join(t.testdir({}), 'kubeconfig');
  writeFileSync(kubeconfig, front.kubeConfigText);
  let out = '';
  let err = '';
  const connect = kubeArgs ? await kubeArgs(kube, kubeconfig) : ['--kubeconfig', kubeconfig];
  const code = await runAuditCommand([...connect, '--base-role-arn', ARN, ...args], (text) => (out += text), (text) => (err += text));
  return { code, out, err, kube };
}

async function auditJson(t: Test, objects: readonly KubeObject[], args: string[] = []) {
  const run = await audit(t, objects, ['--output', 'json', ...args]);
  return { ...run, report: JSON.parse(run.out) };
}

t.test('the table lists namespaces, then pods with their decisions, then findings; a clean cluster exits 0', async (t) => {
  const { code, out, err } = await audit(t, DEMO);
  t.equal(code, 0);
  t.equal(err, '');
  const lines = out.split('\n');
  t.same(
    lines.filter((l) => /^[A-Z]/.test(l)),
    ['CREDENTIAL MODE: node-role', 'NAMESPACES (2)', 'NAMESPACE  DEFAULT ROLE                                ALLOWED ROLES                           PROBLEMS', 'PODS (3)', 'NAMESPACE  POD           NODE    AGENT  DECISION  ROLE OR REASON', 'FINDINGS: none'],
    'three sections in order, columns aligned',
  );
  t.match(out, `gha        ${ARN}spark-etl    ${ARN}spark-*  -\n`);
  t.match(out, `gha1       ${ARN}gha1-ingest  -                                       -\n`);
  t.match(out, `gha        spark-driver  node-a  ready  allow     ${ARN}spark-etl (namespace-default)\n`);
  t.match(out, `gha        spark-writer  node-a  ready  allow     ${ARN}spark-writer (pod-annotation)\n`);
  t.match(out, 'gha1       intruder      node-a  ready  deny      not-allowed: role spark-etl is not allowed in namespace gha1\n', 'a denial shows its reason');
  t.notMatch(out, /corridor-node-a/, 'the agent\'s own hostNetwork pod is not one the agent serves');
});

t.test('--output json has the same report under stable field names', async (t) => {
  const { code, report } = await auditJson(t, DEMO);
  t.equal(code, 0);
  t.same(Object.keys(report), ['namespaces', 'pods', 'agents', 'findings', 'notes', 'credentialMode']);
  t.equal(report.credentialMode, 'node-role', 'the chart sets no CORRIDOR_CREDENTIAL_MODE by default: the agent\'s default');
  t.same(report.namespaces[0], { name: 'gha', defaultRole: `${ARN}spark-etl`, allowedRoles: [`${ARN}spark-*`], problem: null, warnings: [] });
  t.same(report.pods[2], {
    namespace: 'gha1',
    pod: 'intruder',
    node: 'node-a',
    serviceAccount: 'default',
    requestedRole: `${ARN}spark-etl`,
    decision: 'deny',
    role: null,
    source: null,
    reason: 'not-allowed',
    message: 'role spark-etl is not allowed in namespace gha1',
    needsCredentials: true,
    agent: 'ready',
    credentialMode: 'node-role',
    trustSubject: null,
  });
  t.same(report.agents, [{ node: 'node-a', ready: true, pods: ['corridor-node-a'], sharedBridges: 0, imdsPosture: 'imdsv2-required', credentialMode: 'node-role' }]);
  t.same(report.findings, []);
  t.same(report.notes, []);
});

/** The demo's cluster with its agent in web-identity mode, and a pod of its own ServiceAccount. */
const WEB_IDENTITY_DEMO: readonly KubeObject[] = [
  ...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'),
  makePod({ name: 'spark-reader', namespace: 'gha', ip: '10.0.0.5', nodeName: 'node-a', serviceAccountName: 'reader' }),
  agentPod('node-a', true, undefined, undefined, WEB_IDENTITY_ENV),
];

t.test('an agent in web-identity mode: the table says so and names, per pod, the ServiceAccount its role must trust', async (t) => {
  const { code, out } = await audit(t, WEB_IDENTITY_DEMO);
  t.equal(code, 0);
  t.match(out, /^CREDENTIAL MODE: web-identity\n/);
  t.match(out, 'NAMESPACE  POD           NODE    AGENT  DECISION  TRUST SUBJECT                       ROLE OR REASON\n');
  t.match(out, `gha        spark-reader  node-a  ready  allow     system:serviceaccount:gha:reader    ${ARN}spark-etl (namespace-default)\n`);
  t.match(out, `gha        spark-driver  node-a  ready  allow     system:serviceaccount:gha:default   ${ARN}spark-etl (namespace-default)\n`);
});

t.test('--output json has the credential mode per agent and for the cluster, and each web-identity pod\'s trust subject', async (t) => {
  const { report } = await auditJson(t, WEB_IDENTITY_DEMO);
  t.equal(report.credentialMode, 'web-identity');
  t.same(report.agents.map((a: { node: string; credentialMode: string }) => [a.node, a.credentialMode]), [['node-a', 'web-identity']]);
  t.same(
    report.pods.map((p: { pod: string; credentialMode: string; trustSubject: string }) => [p.pod, p.credentialMode, p.trustSubject]),
    [
      ['spark-driver', 'web-identity', 'system:serviceaccount:gha:default'],
      ['spark-reader', 'web-identity', 'system:serviceaccount:gha:reader'],
      ['spark-writer', 'web-identity', 'system:serviceaccount:gha:default'],
      ['intruder', 'web-identity', 'system:serviceaccount:gha1:default'],
    ],
  );
});

t.test('the agent\'s --credential-mode flag in its args wins over CORRIDOR_CREDENTIAL_MODE, as in the agent', async (t) => {
  const { report } = await auditJson(t, [
    ...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'),
    agentPod('node-a', true, undefined, undefined, [{ name: 'CORRIDOR_CREDENTIAL_MODE', value: 'node-role' }], ['--credential-mode=web-identity']),
  ]);
  t.equal(report.credentialMode, 'web-identity');
  const spaced = await auditJson(t, [
    ...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'),
    agentPod('node-a', true, undefined, undefined, [], ['--credential-mode', 'web-identity']),
  ]);
  t.equal(spaced.report.credentialMode, 'web-identity', 'the flag and its value as two arguments');
});

t.test('an agent pod without the agent\'s container (not the chart\'s) has an unknown credential mode', async (t) => {
  const foreign = agentPod('node-a');
  foreign.spec = { ...foreign.spec, containers: [{ name: 'sidecar', image: 'registry.example/other:1' }] };
  const { report } = await auditJson(t, [...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'), foreign]);
  t.equal(report.credentialMode, 'unknown');
});

t.test('a credential mode the spec does not hold plainly (from a ConfigMap) is unknown, and no trust subject is guessed', async (t) => {
  const { report } = await auditJson(t, [
    ...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'),
    agentPod('node-a', true, undefined, undefined, [{ name: 'CORRIDOR_CREDENTIAL_MODE', valueFrom: { configMapKeyRef: { name: 'corridor', key: 'mode' } } }]),
  ]);
  t.equal(report.credentialMode, 'unknown');
  t.same(report.pods.map((p: { trustSubject: string | null }) => p.trustSubject), [null, null, null]);
});

t.test('agents in different modes (a cluster moving between them): each pod gets its own node\'s mode, and a note says roles need both trusts', async (t) => {
  const { code, report, out } = await auditJson(t, [
    ...DEMO.filter((object) => object.metadata.name !== 'corridor-node-a'),
    makePod({ name: 'batch', namespace: 'gha', ip: '10.0.2.2', nodeName: 'node-b' }),
    agentPod('node-a'),
    agentPod('node-b', true, undefined, undefined, WEB_IDENTITY_ENV),
  ]);
  t.equal(code, 0, 'a move between modes is not a finding');
  t.equal(report.credentialMode, 'mixed');
  t.same(report.pods.map((p: { pod: string; trustSubject: string | null }) => [p.pod, p.trustSubject]), [
    ['batch', 'system:serviceaccount:gha:default'],
    ['spark-driver', null],
    ['spark-writer', null],
    ['intruder', null],
  ]);
  t.same(report.notes, [
    'the agents run in different credential modes (node-role on node-a; web-identity on node-b): ' +
      'until every node has moved, a role needs both trusts (the node role and its ServiceAccounts)',
  ]);
  t.notOk(out.includes('CREDENTIAL MODE'), 'JSON only');
});

t.test('a role two namespaces name is a shared-role finding, and audit exits 1', async (t) => {
  const { code, report } = await auditJson(t, [
    makeNamespace('gha', { [ROLE]: 'spark-etl' }),
    makeNamespace('etl', { [ALLOWED]: `["reporting","${ARN}spark-etl"]` }),
    makeNamespace('bi', { [ROLE]: 'reporting' }),
  ]);
  t.equal(code, 1);
  t.same(report.findings, [
    { kind: 'shared-role', role: `${ARN}reporting`, namespaces: ['bi', 'etl'], message: `role ${ARN}reporting is allowed in namespaces bi, etl: their pods can all use it, so these corridors are not isolated` },
    { kind: 'shared-role', role: `${ARN}spark-etl`, namespaces: ['etl', 'gha'], message: `role ${ARN}spark-etl is allowed in namespaces etl, gha: their pods can all use it, so these corridors are not isolated` },
  ]);
});

t.test('a glob matching another namespace\'s default role or a role its pods use is a glob-overlap finding', async (t) => {
  const objects = [
    makeNamespace('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' }),
    makeNamespace('data', { [ALLOWED]: '["spark-*","data-*"]' }),
    makeNamespace('lake', { [ALLOWED]: '["lake-*"]' }),
    makePod({ name: 'loader', namespace: 'lake', annotations: { [ROLE]: 'lake-loader' } }),
    // A glob that only another glob could match: nothing the cluster's objects name.
    makeNamespace('other', { [ALLOWED]: '["lake-*-x"]' }),
    agentPod('node-a'),
  ];
  const { code, report } = await auditJson(t, objects);
  t.equal(code, 1);
  t.same(report.findings, [
    { kind: 'glob-overlap', namespace: 'data', pattern: `${ARN}spark-*`, role: `${ARN}spark-etl`, roleOf: ['gha'], message: `namespace data allows ${ARN}spark-*, which matches ${ARN}spark-etl, a role of namespace gha` },
  ]);
  t.equal(report.pods[0].role, `${ARN}lake-loader`, 'lake\'s pod uses a role only lake\'s glob allows');

  const used = await auditJson(t, [makeNamespace('lake', { [ALLOWED]: '["lake-*"]' }), makeNamespace('ops', { [ALLOWED]: '["*"]' }), makePod({ name: 'loader', namespace: 'lake', annotations: { [ROLE]: 'lake-loader' } }), agentPod('node-a')]);
  t.match(used.report.findings, [{ kind: 'glob-overlap', namespace: 'ops', pattern: `${ARN}*`, role: `${ARN}lake-loader`, roleOf: ['lake'] }], 'a role in use by another namespace\'s pod counts');
  t.equal(used.report.findings.length, 1);
  const table = await audit(t, objects);
  t.equal(table.code, 1);
  t.match(table.out, `FINDINGS (1)\nKIND          FINDING\nglob-overlap  namespace data allows ${ARN}spark-*, which matches ${ARN}spark-etl, a role of namespace gha\n`);
});

t.test('a pod that wants a role on a node without a ready agent is a no-ready-agent finding; pods that want none are not', async (t) => {
  const { code, report } = await auditJson(t, [
    makeNamespace('gha', { [ROLE]: 'spark-etl' }),
    makeNamespace('plain', {}),
    makePod({ name: 'served', namespace: 'gha', nodeName: 'node-a' }),
    makePod({ name: 'unserved', namespace: 'gha', nodeName: 'node-b' }),
    makePod({ name: 'starting', namespace: 'gha', nodeName: 'node-c' }),
    makePod({ name: 'asks', namespace: 'plain', nodeName: 'node-b', annotations: { [ROLE]: 'spark-etl' } }),
    makePod({ name: 'nothing', namespace: 'plain', nodeName: 'node-b' }),
    makePod({ name: 'pending', namespace: 'gha', nodeName: '' }),
    makePod({ name: 'done', namespace: 'gha', nodeName: 'node-b', phase: 'Succeeded' }),
    makePod({ name: 'host', namespace: 'gha', nodeName: 'node-b', hostNetwork: true }),
    agentPod('node-a'),
    agentPod('node-c', false),
  ]);
  t.equal(code, 1);
  t.same(report.findings, [
    { kind: 'no-ready-agent', namespace: 'gha', pod: 'starting', node: 'node-c', message: 'pod gha/starting wants a role, but the corridor agent on node node-c is not ready' },
    { kind: 'no-ready-agent', namespace: 'gha', pod: 'unserved', node: 'node-b', message: 'pod gha/unserved wants a role, but node node-b runs no corridor agent' },
    { kind: 'no-ready-agent', namespace: 'plain', pod: 'asks', node: 'node-b', message: 'pod plain/asks wants a role, but node node-b runs no corridor agent' },
  ], 'a denied pod with a role annotation counts too: it wants credentials');
  t.same(
    report.pods.map((p: { pod: string; agent: string | null }) => [p.pod, p.agent]),
    [['pending', null], ['served', 'ready'], ['starting', 'not-ready'], ['unserved', 'none'], ['asks', 'none'], ['nothing', 'none']],
    'finished and hostNetwork pods are left out; an unscheduled pod has no node to check',
  );
});

t.test('--agent-namespace and --agent-selector find agents deployed under other names', async (t) => {
  const objects = [makeNamespace('gha', { [ROLE]: 'spark-etl' }), makePod({ name: 'driver', namespace: 'gha', nodeName: 'node-a' }), agentPod('node-a', true, { app: 'imds' }, 'kube-system')];
  t.equal((await audit(t, objects)).code, 1, 'the defaults do not find it');
  const found = await auditJson(t, objects, ['--agent-namespace', 'kube-system', '--agent-selector', 'app=imds']);
  t.equal(found.code, 0);
  t.equal(found.report.pods[0].agent, 'ready');
});

t.test('a malformed annotation is shown on its namespace, denies its pods, and is a finding', async (t) => {
  const { code, out, report } = await audit(t, [
    makeNamespace('broken', { [ALLOWED]: 'spark-*', [ROLE]: 'spark-etl' }),
    makeNamespace('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' }),
    makePod({ name: 'victim', namespace: 'broken' }),
    makePod({ name: 'typo', namespace: 'gha', annotations: { [ROLE]: 'arn:aws:iam::12345:role/x' } }),
    agentPod('node-a'),
  ], ['--output', 'json']).then((run) => ({ ...run, report: JSON.parse(run.out) }));
  t.equal(code, 1);
  t.match(report.namespaces[0], { name: 'broken', problem: /iam.amazonaws.com\/allowed-roles: not valid JSON/ });
  t.match(report.pods[0], { pod: 'victim', decision: 'deny', reason: 'malformed-annotation' });
  t.same(report.findings.map((f: { kind: string; namespace: string; pod: string | null }) => [f.kind, f.namespace, f.pod]), [['malformed-annotation', 'broken', null], ['malformed-annotation', 'gha', 'typo']]);
  t.match(report.findings[1].message, /pod typo has a malformed role annotation/);
  t.notOk(report.findings.some((f: { kind: string }) => f.kind === 'shared-role'), 'a malformed namespace allows nothing, so it shares nothing');
  t.notMatch(out, /^NAMESPACES/m, 'json only');
});

t.test('ServiceAccount roles are read and decided only with --service-account-roles, as the agent does', async (t) => {
  const objects = [
    makeNamespace('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' }),
    makePod({ name: 'irsa', namespace: 'gha', serviceAccountName: 'reader' }),
    makeServiceAccount('gha', 'reader', { 'eks.amazonaws.com/role-arn': `${ARN}spark-reader` }),
    agentPod('node-a'),
  ];
  const off = await auditJson(t, objects);
  t.match(off.report.pods[0], { role: `${ARN}spark-etl`, source: 'namespace-default' });
  t.equal(off.kube.requests.list.serviceaccounts, 0, 'no ServiceAccount is read');
  const on = await auditJson(t, objects, ['--service-account-roles']);
  t.match(on.report.pods[0], { role: `${ARN}spark-reader`, source: 'service-account' });
  t.equal(on.kube.requests.list.serviceaccounts, 1);
});

t.test('without --base-role-arn short names are warnings on their namespace, as the agent warns', async (t) => {
  const kube = await fakeKubeApi(t, { objects: [makeNamespace('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' })] });
  const kubeconfig = join(t.testdir({}), 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeConfigText());
  let out = '';
  t.equal(await runAuditCommand(['--kubeconfig', kubeconfig, '--output', 'json'], (text) => (out += text)), 0);
  t.same(JSON.parse(out).namespaces[0].warnings, [
    'default role "spark-etl" is a short name and there is no --base-role-arn: it names no role',
    '1 iam.amazonaws.com/allowed-roles entries are short names and there is no --base-role-arn: they match no role',
  ]);
});

t.test('--context picks the kubeconfig\'s context', async (t) => {
  const run = await audit(t, DEMO, ['--context', 'elsewhere'], (kube, kubeconfig) => {
    const config = JSON.parse(kube.kubeConfigText());
    config.contexts.push({ name: 'elsewhere', context: { cluster: 'nowhere', user: 'fake' } });
    config.clusters.push({ name: 'nowhere', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } });
    writeFileSync(kubeconfig, JSON.stringify(config));
    return ['--kubeconfig', kubeconfig];
  });
  t.equal(run.code, 3, 'the other context\'s server is not there');
  t.match(run.err, /127\.0\.0\.1:9/);
  t.equal(run.kube.requests.list.pods, 0, 'the current context\'s server was not asked');
});

t.test('bad flags exit 2 with one line naming each', async (t) => {
  let err = '';
  const stderr = t.capture(process.stderr, 'write', (text: string) => ((err += text), true));
  const code = await runAuditCommand(['--output', 'yaml', '--base-role-arn', 'arn:aws:s3:::bucket', '--pod', 'x'], () => t.fail('prints no report'));
  t.equal(code, 2);
  t.equal(stderr().length, 1);
  t.match(err, /^corridor audit: [^\n]+\n$/);
  for (const problem of ['unknown flag --pod', '--base-role-arn: "arn:aws:s3:::bucket" is not an IAM role ARN prefix', '--output: "yaml" is not one of table, json']) t.match(err, problem);
});

t.test('an API server that cannot be asked exits 3 with one line naming the server and the kubeconfig: unreachable, refusing the token, or too slow', async (t) => {
  const down = await audit(t, DEMO, [], (kube, kubeconfig) => {
    kube.setDown(true, 'reset');
    return ['--kubeconfig', kubeconfig];
  });
  t.equal(down.code, 3);
  t.equal(down.out, '');
  t.match(down.err, /^corridor audit: cannot list [a-z ]+ from the API server at http:\/\/127\.0\.0\.1:\d+ \(kubeconfig \S+kubeconfig, context front\): .+\n$/);

  const refused = await audit(t, DEMO, [], (kube, kubeconfig) => {
    kube.token = 'rotated';
    return ['--kubeconfig', kubeconfig];
  });
  t.equal(refused.code, 3);
  t.match(refused.err, /^corridor audit: cannot list [a-z ]+ from the API server at \S+ \(kubeconfig \S+, context front\): HTTP 401: Unauthorized\n$/);

  const slow = await audit(t, DEMO, ['--request-timeout', '1s'], (kube, kubeconfig) => {
    kube.listDelayMs = 5000;
    return ['--kubeconfig', kubeconfig];
  });
  t.equal(slow.code, 3);
  t.match(slow.err, /^corridor audit: the API server at \S+ \(kubeconfig \S+, context front\) did not answer within --request-timeout \(1 s\)\n$/);

  const missing = await audit(t, DEMO, [], () => ['--kubeconfig', '/nonexistent/kubeconfig']);
  t.equal(missing.code, 3);
  t.match(missing.err, /^corridor audit: cannot load kubeconfig \/nonexistent\/kubeconfig/);
});

t.test('through `kubectl proxy` (a plain-HTTP server, no TLS settings, no credentials in the kubeconfig) audit reads the cluster', async (t) => {
  let proxyRequests = () => 0;
  const run = await audit(t, DEMO, [], async (kube, kubeconfig) => {
    const proxy = await apiFront(t, kube, { injectToken: true });
    proxyRequests = proxy.requests;
    writeFileSync(kubeconfig, proxy.kubeConfigText);
    return ['--kubeconfig', kubeconfig];
  });
  t.equal(run.err, '');
  t.equal(run.code, 0);
  t.match(run.out, /spark-driver\s+node-a\s+ready\s+allow/);
  t.ok(proxyRequests() >= 3, 'every list went through the proxy');
});

t.test('a node whose agent reports a shared pod bridge is a shared-pod-bridge finding, read through the API server\'s pod proxy', async (t) => {
  const objects = [...DEMO, agentPod('node-b'), agentPod('node-c', false)];
  const run = await audit(t, objects, ['--output', 'json'], undefined, (pod) => `corridor_pod_network_shared_bridges ${pod === 'corridor-node-b' ? 1 : 0}\n`);
  const report = JSON.parse(run.out);
  t.equal(run.code, 1);
  t.same(report.findings, [
    {
      kind: 'shared-pod-bridge',
      node: 'node-b',
      bridges: 1,
      message: 'pods on node node-b share an L2 bridge: a pod holding CAP_NET_RAW can answer ARP for another pod\'s IP and get its role; drop NET_RAW from pods (the chart\'s netRawPolicy) or use a routed CNI',
    },
  ]);
  t.same(report.agents.map((a: { node: string; sharedBridges: number | null }) => [a.node, a.sharedBridges]), [['node-a', 0], ['node-b', 1], ['node-c', null]], 'a not-ready agent is not asked');
  const table = await audit(t, objects, [], undefined, (pod) => `corridor_pod_network_shared_bridges ${pod === 'corridor-node-b' ? 1 : 0}\n`);
  t.match(table.out, /^shared-pod-bridge {2}pods on node node-b share an L2 bridge/m);
});

t.test('a node whose metadata service answers without a token is a node-imdsv1-allowed finding, from its agent\'s /metrics', async (t) => {
  const objects = [...DEMO, agentPod('node-b')];
  const metrics: AgentMetrics = (pod) =>
    'corridor_pod_network_shared_bridges 0\n' +
    `corridor_node_imds_posture{posture="imdsv1-allowed"} ${pod === 'corridor-node-b' ? 1 : 0}\n` +
    `corridor_node_imds_posture{posture="imdsv2-required"} ${pod === 'corridor-node-b' ? 0 : 1}\n`;
  const run = await audit(t, objects, ['--output', 'json'], undefined, metrics);
  const report = JSON.parse(run.out);
  t.equal(run.code, 1);
  t.same(report.findings.map((f: { kind: string; node: string }) => [f.kind, f.node]), [['node-imdsv1-allowed', 'node-b']]);
  t.same(report.agents.map((a: { node: string; imdsPosture: string | null }) => [a.node, a.imdsPosture]), [['node-a', 'imdsv2-required'], ['node-b', 'imdsv1-allowed']]);
  const table = await audit(t, objects, [], undefined, metrics);
  t.match(table.out, /^node-imdsv1-allowed {2}node node-b's metadata service answers without a token/m);
});

t.test('without get on pods/proxy the agents\' reports are not read: a note says so, no finding is made up', async (t) => {
  const run = await audit(t, DEMO, ['--output', 'json'], undefined, () => undefined);
  const report = JSON.parse(run.out);
  t.equal(run.code, 0, 'a note is no finding');
  t.same(report.findings, []);
  t.match(report.notes, [/^the agents' \/metrics could not be read through the API server \(get pods\/proxy in namespace corridor, port 9181\): HTTP 403: .*forbidden.*; shared pod bridges not checked$/]);
  t.equal(report.agents[0].sharedBridges, null);
  const table = await audit(t, DEMO, [], undefined, () => undefined);
  t.match(table.out, /\nNOTE: the agents' \/metrics could not be read/);
});

t.test('an agent whose /metrics never answers holds audit no longer than --request-timeout: a note, and the report', async (t) => {
  // Without the bound the read would wait for ever, and the test time out.
  const run = await audit(t, DEMO, ['--request-timeout', '1s', '--output', 'json'], undefined, () => new Promise<undefined>(() => {}));
  const report = JSON.parse(run.out);
  t.equal(run.code, 0);
  t.match(report.notes, [/^the agents' \/metrics could not be read .*; shared pod bridges not checked$/]);
  t.equal(report.pods.length, 3, 'the rest of the report is there');
});

t.test('a large cluster\'s agents are read a few at a time through the API server, every one of them', async (t) => {
  const nodes = Array.from({ length: 40 }, (_, i) => `node-${i}`);
  const total = nodes.length + 1;
  let most = 0;
  const asked = new Set<string>();
  let waiting: Array<() => void> = [];
  // Each answer waits until no more requests come in at once (or every agent has asked): the
  // number waiting then is how many audit had in flight.
  const slow: AgentMetrics = async (pod) => {
    asked.add(pod);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      most = Math.max(most, waiting.length);
      setTimeout(() => {
        if (waiting.length === 0) return;
        const release = waiting;
        waiting = [];
        for (const go of release) go();
      }, 50);
    });
    return 'corridor_pod_network_shared_bridges 0\n';
  };
  const run = await audit(t, [...DEMO, ...nodes.map((node) => agentPod(node))], ['--output', 'json'], undefined, slow);
  t.equal(JSON.parse(run.out).agents.length, 41);
  t.equal(asked.size, total, 'every ready agent was asked');
  t.ok(most > 1 && most <= 16, `several, but at most 16, at once (${most})`);
});
