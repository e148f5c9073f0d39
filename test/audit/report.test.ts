import t from 'tap';
import { auditCluster, type AgentPod, type ClusterSnapshot } from '../../src/audit/index.js';
import type { NamespaceInfo, PodInfo } from '../../src/kube/index.js';
import type { PolicyOptions } from '../../src/policy/index.js';

// auditCluster is pure: these tests give it a snapshot directly. test/cli/audit.test.ts reads the
// same kinds of snapshot from an API server through `corridor audit`.

const ARN = 'arn:aws:iam::123456789012:role/';
const ROLE = 'iam.amazonaws.com/role';
const ALLOWED = 'iam.amazonaws.com/allowed-roles';
const OPTIONS: PolicyOptions = {
  baseRoleArn: ARN,
  serviceAccountRoles: false,
  annotations: {
    role: ROLE,
    allowedRoles: ALLOWED,
    externalId: 'iam.amazonaws.com/external-id',
    sessionPolicy: 'iam.amazonaws.com/session-policy',
    sessionPolicyArns: 'iam.amazonaws.com/session-policy-arns',
    serviceAccountRole: 'eks.amazonaws.com/role-arn',
  },
};

const ns = (name: string, annotations: Record<string, string>): NamespaceInfo => ({ name, annotations });
function pod(namespace: string, name: string, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    uid: `${namespace}/${name}`, name, namespace, nodeName: 'node-a', ip: '10.0.0.7', ips: ['10.0.0.7'], phase: 'Running',
    terminating: false, hostNetwork: false, serviceAccountName: 'default', annotations: {}, ...extra,
  };
}
const agent = (nodeName: string, ready = true, sharedBridges?: number): AgentPod => ({ name: `corridor-${nodeName}`, nodeName, ready, sharedBridges });

function snapshot(parts: Partial<ClusterSnapshot>): ClusterSnapshot {
  return { namespaces: [], pods: [], serviceAccounts: [], agents: [agent('node-a')], ...parts };
}

t.test('every served pod gets the agent\'s decision; hostNetwork and finished pods are left out', async (t) => {
  const report = auditCluster(snapshot({
    namespaces: [ns('gha', { [ROLE]: 'spark-etl', [ALLOWED]: '["spark-*"]' }), ns('gha1', { [ROLE]: 'gha1-ingest' })],
    pods: [
      pod('gha1', 'intruder', { annotations: { [ROLE]: 'spark-etl' } }),
      pod('gha', 'driver'),
      pod('gha', 'host', { hostNetwork: true }),
      pod('gha', 'done', { phase: 'Succeeded' }),
    ],
  }), OPTIONS);
  t.same(report.pods.map((p) => [p.namespace, p.pod, p.decision, p.role ?? p.reason]), [
    ['gha', 'driver', 'allow', `${ARN}spark-etl`],
    ['gha1', 'intruder', 'deny', 'not-allowed'],
  ]);
  t.same(report.findings, [], 'a denied pod is the corridor working, not a finding');
  t.same(report.namespaces.map((n) => [n.name, n.defaultRole, n.allowedRoles]), [
    ['gha', `${ARN}spark-etl`, [`${ARN}spark-*`]],
    ['gha1', `${ARN}gha1-ingest`, []],
  ]);
});

t.test('a role two namespaces name exactly is one shared-role finding, not also a glob overlap', async (t) => {
  const report = auditCluster(snapshot({
    namespaces: [ns('a', { [ROLE]: 'shared', [ALLOWED]: '["shared-*"]' }), ns('b', { [ROLE]: 'shared' })],
  }), OPTIONS);
  t.same(report.findings.map((f) => f.kind), ['shared-role']);
  t.match(report.findings[0], { kind: 'shared-role', role: `${ARN}shared`, namespaces: ['a', 'b'] });
});

t.test('a pod that wants a role where no ready agent runs is a finding; a pod that wants none is not', async (t) => {
  const report = auditCluster(snapshot({
    namespaces: [ns('gha', { [ROLE]: 'spark-etl' }), ns('plain', {})],
    pods: [pod('gha', 'driver', { nodeName: 'node-b' }), pod('gha', 'waiting', { nodeName: '' }), pod('plain', 'web', { nodeName: 'node-b' })],
    agents: [agent('node-a'), agent('node-b', false)],
  }), OPTIONS);
  t.same(report.findings, [{
    kind: 'no-ready-agent', namespace: 'gha', pod: 'driver', node: 'node-b',
    message: 'pod gha/driver wants a role, but the corridor agent on node node-b is not ready',
  }]);
  t.same(report.pods.map((p) => p.agent), ['not-ready', null, 'not-ready'], 'an unscheduled pod has no node to check');
});

t.test('an agent that reports a shared pod bridge is a finding for its node; a metrics problem is a note', async (t) => {
  const report = auditCluster(snapshot({ agents: [agent('node-a', true, 1), agent('node-b', true, 0)], agentMetricsProblem: 'not read' }), OPTIONS);
  t.same(report.findings.map((f) => [f.kind, 'node' in f ? f.node : '']), [['shared-pod-bridge', 'node-a']]);
  t.same(report.notes, ['not read']);
});
