import type { CredentialMode } from '../credentials/types.js';
import { isLivePod, serviceAccountSubject, type NamespaceInfo, type PodInfo, type ServiceAccountInfo } from '../kube/index.js';
import { compileGlob, decideRole, namespacePolicy, type DenyReason, type NamespacePolicy, type PolicyOptions, type RoleSource } from '../policy/index.js';

/** What `corridor audit` reads from the cluster, parsed at the edge. */
export interface ClusterSnapshot {
  namespaces: readonly NamespaceInfo[];
  pods: readonly PodInfo[];
  /** Empty unless ServiceAccount roles are on. */
  serviceAccounts: readonly ServiceAccountInfo[];
  /** The corridor agent's own pods (by the agent namespace and label selector). */
  agents: readonly AgentPod[];
  /** Why the agents' own reports (their /metrics) could not be read, if they could not. */
  agentMetricsProblem?: string | undefined;
}

export interface AgentPod {
  name: string;
  nodeName: string;
  ready: boolean;
  /** corridor_pod_network_shared_bridges from the agent's /metrics; undefined when not read. */
  sharedBridges?: number | undefined;
  /** corridor_node_imds_posture from the agent's /metrics: the posture set to 1; undefined when not read. */
  imdsPosture?: string | undefined;
  /** The agent container's --credential-mode from the pod's spec; 'unknown' when the spec does not say it plainly; undefined: not read. */
  credentialMode?: AgentCredentialMode | undefined;
}

type AgentCredentialMode = CredentialMode | 'unknown';

/*
 * The report's field names are a contract (`--output json` is for tools): add fields, never
 * rename or remove them.
 */

interface NamespaceReport {
  name: string;
  /** The default role's ARN, or null. */
  defaultRole: string | null;
  /** The allowed-roles entries as the full-ARN globs the agent matches. */
  allowedRoles: string[];
  /** A malformed annotation: every pod of the namespace is denied with it. */
  problem: string | null;
  /** What the policy flags make of the annotations (short names without --base-role-arn). */
  warnings: string[];
}

/** `agent`: whether the pod's node runs a ready corridor agent; null for a pod not scheduled yet. */
type AgentState = 'ready' | 'not-ready' | 'none';

export interface PodReport {
  namespace: string;
  pod: string;
  node: string | null;
  serviceAccount: string;
  requestedRole: string | null;
  decision: 'allow' | 'deny';
  role: string | null;
  source: RoleSource | null;
  reason: DenyReason | null;
  message: string | null;
  /** The pod wants a role: a role annotation (its own or, when enabled, its ServiceAccount's), or a namespace default. */
  needsCredentials: boolean;
  agent: AgentState | null;
  /** The credential mode of the agent on the pod's node (or of every agent, when they agree and the pod has none); null: not known. */
  credentialMode: AgentCredentialMode | null;
  /** Web-identity mode: the ServiceAccount the role's trust must name (system:serviceaccount:<namespace>:<name>); else null. */
  trustSubject: string | null;
}

interface AgentReport {
  node: string;
  ready: boolean;
  pods: string[];
  /** Bridges with pods' veths on the node, as its agent reports them (a pod with NET_RAW can pose as another); null: not read. */
  sharedBridges: number | null;
  /** How the node's own metadata service answers a GET without a token (imdsv1-allowed, imdsv2-required, unknown); null: not read. */
  imdsPosture: string | null;
  /** The agent's credential mode as its pod's spec sets it; null: not read. */
  credentialMode: AgentCredentialMode | null;
}

type Finding =
  | { kind: 'malformed-annotation'; namespace: string; pod: string | null; message: string }
  | { kind: 'shared-role'; role: string; namespaces: string[]; message: string }
  | { kind: 'glob-overlap'; namespace: string; pattern: string; role: string; roleOf: string[]; message: string }
  | { kind: 'no-ready-agent'; namespace: string; pod: string; node: string; message: string }
  | { kind: 'shared-pod-bridge'; node: string; bridges: number; message: string }
  | { kind: 'node-imdsv1-allowed'; node: string; message: string };

export interface AuditReport {
  namespaces: NamespaceReport[];
  pods: PodReport[];
  agents: AgentReport[];
  findings: Finding[];
  /** What audit could not check, and why (e.g. the agents' /metrics not readable). */
  notes: string[];
  /** The agents' credential mode when they all agree, 'mixed' when they do not (a move between modes), null without agents. */
  credentialMode: AgentCredentialMode | 'mixed' | null;
}

/**
 * The whole cluster's corridors, decided by the agent's own policy code: decideRole for every pod
 * the agent would serve (not hostNetwork, not finished), namespacePolicy for what each namespace
 * allows. Pure.
 */
export function auditCluster(snapshot: ClusterSnapshot, options: PolicyOptions): AuditReport {
  const keys = options.annotations;
  const namespaces = [...snapshot.namespaces].sort(byName);
  const namespaceByName = new Map(namespaces.map((ns) => [ns.name, ns]));
  const policies = new Map(namespaces.map((ns) => [ns.name, namespacePolicy(ns, options)]));
  const serviceAccounts = new Map(snapshot.serviceAccounts.map((sa) => [`${sa.namespace}/${sa.name}`, sa]));
  const agents = agentsByNode(snapshot.agents);
  const clusterMode = clusterCredentialMode(agents);

  const pods: PodReport[] = [];
  for (const pod of [...snapshot.pods].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))) {
    // The agent never serves these: hostNetwork pods reach the node's metadata directly, finished ones own no IP.
    if (!isLivePod(pod)) continue;
    const namespace = namespaceByName.get(pod.namespace);
    // decideRole applies options.serviceAccountRoles itself.
    const serviceAccount = serviceAccounts.get(`${pod.namespace}/${pod.serviceAccountName}`);
    const decision = decideRole({ pod, namespace, serviceAccount }, options);
    const needsCredentials =
      pod.annotations[keys.role] !== undefined ||
      serviceAccount?.annotations[keys.serviceAccountRole] !== undefined ||
      namespace?.annotations[keys.role] !== undefined;
    const agent = agents.get(pod.nodeName);
    const credentialMode = agent?.credentialMode ?? (clusterMode === 'mixed' ? null : clusterMode);
    pods.push({
      namespace: pod.namespace,
      pod: pod.name,
      node: pod.nodeName || null,
      serviceAccount: pod.serviceAccountName,
      requestedRole: decision.requested ?? null,
      decision: decision.allowed ? 'allow' : 'deny',
      role: decision.allowed ? decision.role.arn : null,
      source: decision.allowed ? decision.source : null,
      reason: decision.allowed ? null : decision.reason,
      message: decision.allowed ? null : decision.message,
      needsCredentials,
      agent: pod.nodeName === '' ? null : agent === undefined ? 'none' : agent.ready ? 'ready' : 'not-ready',
      credentialMode,
      trustSubject: credentialMode === 'web-identity' ? serviceAccountSubject(pod.namespace, pod.serviceAccountName) : null,
    });
  }

  return {
    namespaces: namespaces.map((ns) => namespaceReport(ns.name, policies.get(ns.name) as NamespacePolicy, options)),
    pods,
    agents: [...agents.values()],
    findings: [...malformed(policies, pods), ...roleFindings(policies, pods), ...agentFindings(pods), ...bridgeFindings(agents), ...postureFindings(agents)],
    notes: [...(snapshot.agentMetricsProblem === undefined ? [] : [snapshot.agentMetricsProblem]), ...modeNotes(agents, clusterMode)],
    credentialMode: clusterMode,
  };
}

function clusterCredentialMode(agents: ReadonlyMap<string, AgentReport>): AuditReport['credentialMode'] {
  const modes = new Set([...agents.values()].map((agent) => agent.credentialMode).filter((mode) => mode !== null));
  if (modes.size === 0) return null;
  return modes.size === 1 ? ([...modes][0] as AgentCredentialMode) : 'mixed';
}

/**
 * Agents in different modes: each pod's role must trust what its own node's agent presents, and a
 * pod moved to another node may need the other trust.
 */
function modeNotes(agents: ReadonlyMap<string, AgentReport>, clusterMode: AuditReport['credentialMode']): string[] {
  if (clusterMode !== 'mixed') return [];
  const byMode = new Map<string, string[]>();
  for (const agent of agents.values()) {
    if (agent.credentialMode === null) continue;
    byMode.set(agent.credentialMode, [...(byMode.get(agent.credentialMode) ?? []), agent.node]);
  }
  const list = [...byMode].sort(([a], [b]) => a.localeCompare(b)).map(([mode, nodes]) => `${mode} on ${nodes.join(', ')}`);
  return [
    `the agents run in different credential modes (${list.join('; ')}): ` +
      'until every node has moved, a role needs both trusts (the node role and its ServiceAccounts)',
  ];
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name.localeCompare(b.name);
}

function agentsByNode(pods: readonly AgentPod[]): Map<string, AgentReport> {
  const byNode = new Map<string, AgentReport>();
  for (const pod of [...pods].sort(byName)) {
    if (pod.nodeName === '') continue;
    const entry: AgentReport = byNode.get(pod.nodeName) ?? {
      node: pod.nodeName,
      ready: false,
      pods: [],
      sharedBridges: null,
      imdsPosture: null,
      credentialMode: null,
    };
    entry.ready ||= pod.ready;
    entry.pods.push(pod.name);
    if (pod.sharedBridges !== undefined) entry.sharedBridges = Math.max(entry.sharedBridges ?? 0, pod.sharedBridges);
    if (pod.imdsPosture !== undefined) entry.imdsPosture = pod.imdsPosture;
    // Two agent pods on one node (an upgrade's surge): the ready one says what the node serves.
    if (pod.credentialMode !== undefined && (entry.credentialMode === null || pod.ready)) entry.credentialMode = pod.credentialMode;
    byNode.set(pod.nodeName, entry);
  }
  return new Map([...byNode.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

function namespaceReport(name: string, policy: NamespacePolicy, options: PolicyOptions): NamespaceReport {
  const warnings: string[] = [];
  if (policy.defaultRoleNeedsBase !== undefined) {
    warnings.push(`default role "${policy.defaultRoleNeedsBase}" is a short name and there is no --base-role-arn: it names no role`);
  }
  if (policy.shortPatternsWithoutBase > 0) {
    warnings.push(
      `${policy.shortPatternsWithoutBase} ${options.annotations.allowedRoles} entries are short names and there is no --base-role-arn: they match no role`,
    );
  }
  return {
    name,
    defaultRole: policy.defaultRole?.arn ?? null,
    allowedRoles: [...policy.allowedPatterns],
    problem: policy.problem ?? null,
    warnings,
  };
}

function malformed(policies: ReadonlyMap<string, NamespacePolicy>, pods: readonly PodReport[]): Finding[] {
  const findings: Finding[] = [];
  for (const [namespace, policy] of policies) {
    if (policy.problem !== undefined) {
      findings.push({ kind: 'malformed-annotation', namespace, pod: null, message: `namespace ${namespace}: ${policy.problem}` });
    }
  }
  // A pod's or ServiceAccount's own bad annotation; a bad namespace annotation is reported once, above.
  for (const pod of pods) {
    if (pod.reason === 'malformed-annotation' && policies.get(pod.namespace)?.problem === undefined) {
      findings.push({ kind: 'malformed-annotation', namespace: pod.namespace, pod: pod.pod, message: pod.message ?? '' });
    }
  }
  return findings;
}

/**
 * Corridors that are not isolated, as far as the cluster's objects show: a role every one of
 * several namespaces names exactly (default role or an exact allowed-roles entry), and a glob of
 * one namespace that matches a role another namespace names or its pods use. A glob that could
 * match another namespace's glob is not found: that would need the account's list of roles.
 */
function roleFindings(policies: ReadonlyMap<string, NamespacePolicy>, pods: readonly PodReport[]): Finding[] {
  // role ARN -> namespaces that name it exactly; role ARN -> namespaces that name or use it.
  const named = new Map<string, Set<string>>();
  const used = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, role: string, namespace: string) => {
    const set = map.get(role) ?? new Set<string>();
    set.add(namespace);
    map.set(role, set);
  };
  const usable = [...policies].filter(([, policy]) => policy.problem === undefined);
  for (const [namespace, policy] of usable) {
    const exact = [...(policy.defaultRole ? [policy.defaultRole.arn] : []), ...policy.allowedPatterns.filter((p) => !p.includes('*'))];
    for (const role of exact) {
      add(named, role, namespace);
      add(used, role, namespace);
    }
  }
  for (const pod of pods) if (pod.role !== null) add(used, pod.role, pod.namespace);

  const findings: Finding[] = [];
  for (const [role, namespaces] of [...named].sort(([a], [b]) => a.localeCompare(b))) {
    if (namespaces.size < 2) continue;
    const list = [...namespaces].sort();
    findings.push({
      kind: 'shared-role',
      role,
      namespaces: list,
      message: `role ${role} is allowed in namespaces ${list.join(', ')}: their pods can all use it, so these corridors are not isolated`,
    });
  }
  for (const [namespace, policy] of usable) {
    const globs = policy.allowedPatterns
      .filter((p) => p.includes('*'))
      .map((pattern) => ({ pattern, regex: compileGlob(pattern) }));
    if (globs.length === 0) continue;
    for (const [role, users] of [...used].sort(([a], [b]) => a.localeCompare(b))) {
      // Named exactly here too: that is a shared-role finding already.
      if (named.get(role)?.has(namespace)) continue;
      const others = [...users].filter((other) => other !== namespace).sort();
      const glob = globs.find((g) => g.regex.test(role));
      if (others.length === 0 || glob === undefined) continue;
      findings.push({
        kind: 'glob-overlap',
        namespace,
        pattern: glob.pattern,
        role,
        roleOf: others,
        message:
          `namespace ${namespace} allows ${glob.pattern}, which matches ${role}, ` +
          `a role of namespace${others.length > 1 ? 's' : ''} ${others.join(', ')}`,
      });
    }
  }
  return findings;
}

function agentFindings(pods: readonly PodReport[]): Finding[] {
  const findings: Finding[] = [];
  for (const pod of pods) {
    if (!pod.needsCredentials || pod.node === null || pod.agent === 'ready') continue;
    const why = pod.agent === 'none' ? `node ${pod.node} runs no corridor agent` : `the corridor agent on node ${pod.node} is not ready`;
    findings.push({
      kind: 'no-ready-agent',
      namespace: pod.namespace,
      pod: pod.pod,
      node: pod.node,
      message: `pod ${pod.namespace}/${pod.pod} wants a role, but ${why}`,
    });
  }
  return findings;
}

/** A node whose pods share an L2 bridge: a pod holding CAP_NET_RAW there can pose as another pod. */
function bridgeFindings(agents: ReadonlyMap<string, AgentReport>): Finding[] {
  return [...agents.values()]
    .filter((agent) => (agent.sharedBridges ?? 0) > 0)
    .map((agent) => ({
      kind: 'shared-pod-bridge' as const,
      node: agent.node,
      bridges: agent.sharedBridges as number,
      message:
        `pods on node ${agent.node} share an L2 bridge: a pod holding CAP_NET_RAW can answer ARP for another pod's IP and get its role; ` +
        "drop NET_RAW from pods (the chart's netRawPolicy) or use a routed CNI",
    }));
}

/** A node whose own metadata service answers without a token: while corridor's rules are missing, a pod gets the node's role. */
function postureFindings(agents: ReadonlyMap<string, AgentReport>): Finding[] {
  return [...agents.values()]
    .filter((agent) => agent.imdsPosture === 'imdsv1-allowed')
    .map((agent) => ({
      kind: 'node-imdsv1-allowed' as const,
      node: agent.node,
      message:
        `node ${agent.node}'s metadata service answers without a token (IMDSv1): on a new node or after a reboot, before corridor's ` +
        'rules are in place, a pod reaches the node\'s role; require IMDSv2 with a PUT response hop limit of 1',
    }));
}
