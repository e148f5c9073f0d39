import type { CoreV1Api, V1Container, V1ListMeta, V1Pod } from '@kubernetes/client-node';
// The module, not credentials/index.js, which loads the AWS SDK.
import { CREDENTIAL_MODES, type CredentialMode } from '../credentials/types.js';
// client-node and the kubeconfig helpers by their modules, not kube/index.js: only the commands
// that read the cluster through a person's kubeconfig load them, never the agent.
import { withSignal } from '../kube/api/client-node.js';
import { describeApiError } from '../kube/api/cluster-api.js';
import { parseNamespace, parsePod, parseServiceAccount } from '../kube/index.js';
import type { AgentPod, ClusterSnapshot } from './report.js';

/** One page of a list call; large clusters are read in pages rather than one answer of every pod. */
const PAGE_SIZE = 500;

interface ReadOptions {
  serviceAccounts: boolean;
  agentNamespace: string;
  agentSelector: string;
  agentAdminPort: number;
  timeoutMs: number;
}

/** Namespaces, pods and (when SA roles are on) ServiceAccounts cluster-wide, and the agent's pods. */
export async function readCluster(core: CoreV1Api, where: string, options: ReadOptions): Promise<ClusterSnapshot> {
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
const IMDS_POSTURE = /^corridor_node_imds_posture\{posture="([a-z0-9-]+)"\} 1$/m;
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
        const bridges = SHARED_BRIDGES.exec(text);
        const posture = IMDS_POSTURE.exec(text);
        read[index] = { ...agent, ...(bridges ? { sharedBridges: Number(bridges[1]) } : {}), ...(posture ? { imdsPosture: posture[1] } : {}) };
      } catch (error) {
        problem ??=
          `the agents' /metrics could not be read through the API server (get pods/proxy in namespace ${namespace}, port ${port}): ` +
          `${describeApiError(error)}; shared pod bridges not checked`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(AGENT_READS_AT_ONCE, read.length) }, worker));
  return { agents: read, problem };
}

async function listAll<T>(
  where: string,
  what: string,
  list: (page: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: V1ListMeta }>,
): Promise<T[]> {
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
  return { name: pod.name, nodeName: pod.nodeName, ready, credentialMode: agentCredentialMode(raw) };
}

const MODE_FLAG = '--credential-mode';

/**
 * The agent container's --credential-mode as its spec sets it: the flag in its args wins over
 * CORRIDOR_CREDENTIAL_MODE, as in the agent; neither means the default, node-role. A value the
 * spec does not hold (valueFrom, a container audit cannot find) is 'unknown'.
 */
function agentCredentialMode(raw: V1Pod): CredentialMode | 'unknown' {
  const containers = raw.spec?.containers ?? [];
  const agent = containers.find((c) => (c.args ?? [])[0] === 'agent') ?? containers.find((c) => c.name === 'corridor');
  if (agent === undefined) return 'unknown';
  const given = modeFlag(agent) ?? modeEnv(agent);
  if (given === undefined) return 'node-role';
  return CREDENTIAL_MODES.find((mode) => mode === given) ?? 'unknown';
}

function modeFlag(container: V1Container): string | null | undefined {
  const args = container.args ?? [];
  let value: string | undefined;
  args.forEach((arg, index) => {
    if (arg.startsWith(`${MODE_FLAG}=`)) value = arg.slice(MODE_FLAG.length + 1);
    else if (arg === MODE_FLAG) value = args[index + 1];
  });
  return value;
}

function modeEnv(container: V1Container): string | null | undefined {
  const env = (container.env ?? []).find((variable) => variable.name === 'CORRIDOR_CREDENTIAL_MODE');
  if (env === undefined) return undefined;
  // Unset or empty is the default, as in the agent; a value from elsewhere cannot be read here.
  return env.valueFrom !== undefined ? null : env.value || undefined;
}
