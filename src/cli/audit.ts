import type { CoreV1Api, V1ListMeta, V1Pod } from '@kubernetes/client-node';
import { auditCluster, type AgentPod, type ClusterSnapshot } from '../audit/index.js';
import { policyOptions, type FlagSpec } from '../config/index.js';
import { withSignal } from '../kube/api/client-node.js';
import { parseNamespace, parsePod, parseServiceAccount } from '../kube/index.js';
import { renderAuditTable } from './audit-table.js';
import { describeApiError, openClusterApi } from './cluster-api.js';
import { defineCommand } from './command.js';
import { KUBECONFIG_POLICY_FLAGS } from './kubeconfig-flags.js';
import { EXIT } from './exit-codes.js';

const AUDIT_FLAGS = [
  ...KUBECONFIG_POLICY_FLAGS,
  { name: 'agent-namespace', kind: 'string', default: 'corridor', help: 'namespace of the corridor agent\'s DaemonSet pods' },
  { name: 'agent-selector', kind: 'string', default: 'app.kubernetes.io/name=corridor', help: 'label selector of the agent\'s pods in that namespace' },
  { name: 'agent-admin-port', kind: 'port', default: '9181', help: 'the agents\' admin port, whose /metrics audit reads through the API server (pods/proxy) for what only a node knows' },
  { name: 'output', kind: 'string', default: 'table', choices: ['table', 'json'], help: 'table (for people) or json (for tools)' },
  { name: 'request-timeout', kind: 'duration', default: '30s', help: 'give up reading the cluster after this long' },
] as const satisfies readonly FlagSpec[];

/** One page of a list call; large clusters are read in pages rather than one answer of every pod. */
const PAGE_SIZE = 500;

/**
 * `corridor audit`: every namespace's corridor and every pod's decision, from a kubeconfig, by the
 * agent's own policy code, and the findings that say corridors are not isolated or not served.
 * Exits 0 without findings, 1 with some, 2 on bad flags, 3 when the API server cannot be asked.
 */
export const auditCommand = defineCommand({
  name: 'audit',
  flags: AUDIT_FLAGS,
  input: ({ values }, errors) => ({ ...values, policy: policyOptions(values, errors) }),
  async run(input, io) {
    let snapshot: ClusterSnapshot;
    try {
      const { core, where } = openClusterApi(input.kubeconfig, input.context);
      snapshot = await readCluster(core, where, {
        serviceAccounts: input.policy.serviceAccountRoles,
        agentNamespace: input.agentNamespace,
        agentSelector: input.agentSelector,
        agentAdminPort: input.agentAdminPort,
        timeoutMs: input.requestTimeout,
      });
    } catch (error) {
      io.err(`corridor audit: ${describeApiError(error)}`);
      return EXIT.cluster;
    }
    const report = auditCluster(snapshot, input.policy);
    io.out(input.output === 'json' ? JSON.stringify(report, null, 2) : renderAuditTable(report));
    return report.findings.length > 0 ? EXIT.no : EXIT.ok;
  },
});

/** `corridor audit`, writing to `out` and `err` (stdout and stderr by default). */
export async function runAuditCommand(
  argv: string[],
  out: (text: string) => void = (text) => process.stdout.write(text),
  err: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  return auditCommand.main(argv, { env: process.env, out: (text) => out(`${text}\n`), err: (text) => err(`${text}\n`) });
}

interface ReadOptions {
  serviceAccounts: boolean;
  agentNamespace: string;
  agentSelector: string;
  agentAdminPort: number;
  timeoutMs: number;
}

/** Namespaces, pods and (when SA roles are on) ServiceAccounts cluster-wide, and the agent's pods. */
async function readCluster(core: CoreV1Api, where: string, options: ReadOptions): Promise<ClusterSnapshot> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const config = withSignal(signal);
  const reading = Promise.all([
    listAll(where, 'namespaces', (page) => core.listNamespace(page, config)),
    listAll(where, 'pods', (page) => core.listPodForAllNamespaces(page, config)),
    options.serviceAccounts ? listAll(where, 'serviceaccounts', (page) => core.listServiceAccountForAllNamespaces(page, config)) : [],
    listAll(where, `pods in namespace ${options.agentNamespace}`, (page) =>
      core.listNamespacedPod({ namespace: options.agentNamespace, labelSelector: options.agentSelector, ...page }, config),
    ),
  ]);
  // Whichever list was cut off first says so in its own words; the reason is the timeout.
  const [namespaces, pods, serviceAccounts, agents] = await reading.catch((error: unknown) => {
    throw signal.aborted ? new Error(`${where} did not answer within --request-timeout (${options.timeoutMs / 1000} s)`) : error;
  });
  const read = await readAgentMetrics(core, agents.map(agentPod), options.agentNamespace, options.agentAdminPort, config);
  return {
    namespaces: namespaces.map(parseNamespace),
    pods: pods.map(parsePod),
    serviceAccounts: serviceAccounts.map(parseServiceAccount),
    agents: read.agents,
    agentMetricsProblem: read.problem,
  };
}

const SHARED_BRIDGES = /^corridor_pod_network_shared_bridges (\d+)$/m;
/** Agents asked at once: a cluster of thousands of nodes is read a few at a time, not all through the API server at once. */
const AGENT_READS_AT_ONCE = 16;

/**
 * What only a node knows (whether its pods share an L2 bridge), from each ready agent's /metrics
 * through the API server's pod proxy, within the same --request-timeout as the lists. Needs `get`
 * on pods/proxy in the agents' namespace, which `view` does not give: without it (or when an
 * agent does not answer in time) the finding is not checked, and a note says why.
 */
async function readAgentMetrics(
  core: CoreV1Api,
  agents: AgentPod[],
  namespace: string,
  port: number,
  config: ReturnType<typeof withSignal>,
): Promise<{ agents: AgentPod[]; problem: string | undefined }> {
  let problem: string | undefined;
  const read = [...agents];
  let next = 0;
  const worker = async () => {
    while (next < read.length) {
      const index = next++;
      const agent = read[index] as AgentPod;
      if (!agent.ready) continue;
      try {
        const text = await core.connectGetNamespacedPodProxyWithPath({ name: `${agent.name}:${port}`, namespace, path: 'metrics' }, config);
        const match = SHARED_BRIDGES.exec(text);
        if (match) read[index] = { ...agent, sharedBridges: Number(match[1]) };
      } catch (error) {
        problem ??= `the agents' /metrics could not be read through the API server (get pods/proxy in namespace ${namespace}, port ${port}): ${describeApiError(error)}; shared pod bridges not checked`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(AGENT_READS_AT_ONCE, read.length) }, worker));
  return { agents: read, problem };
}

async function listAll<T>(where: string, what: string, list: (page: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: V1ListMeta }>): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  try {
    do {
      const page = await list({ limit: PAGE_SIZE, ...(next !== undefined ? { _continue: next } : {}) });
      items.push(...page.items);
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
  } catch (error) {
    throw new Error(`cannot list ${what} from ${where}: ${describeApiError(error)}`);
  }
  return items;
}

function agentPod(raw: V1Pod): AgentPod {
  const pod = parsePod(raw);
  const ready = pod.phase === 'Running' && (raw.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return { name: pod.name, nodeName: pod.nodeName, ready };
}
