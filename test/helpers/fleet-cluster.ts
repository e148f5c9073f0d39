import https from 'node:https';
import { CoreV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { eventually } from './eventually.js';
import { NAMESPACE, renderChart, type K8sObject } from './helm.js';
import type { ControlPlane } from './kube-apiserver.js';

// What a simulated fleet (agent-fleet.ts) runs against on a real kube-apiserver: corridor's
// ServiceAccount under the chart's RBAC, the chart's flow schema, namespaces and pods on the
// fleet's nodes, and the server's own count of what API Priority and Fairness refused. Shared by
// test/peers/flow-schema.peer.ts and bench/api-server-load.ts.

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request to the API server as `token`, on a connection of its own unless `agent` keeps one
 * alive; a JSON body when `json` is given.
 */
export function apiRequest(
  plane: ControlPlane,
  token: string,
  path: string,
  options: { method?: string; contentType?: string; json?: unknown; agent?: https.Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    https
      .request(`${plane.server}${path}`, { method: options.method ?? 'GET', ca: plane.caPem, agent: options.agent ?? false, headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      })
      .on('error', reject)
      .end(options.json === undefined ? undefined : JSON.stringify(options.json));
  });
}

/** The API server's own count of requests APF refused, by priority level and reason (queue-full, time-out, concurrency-limit, cancelled). */
export async function rejectedByServer(plane: ControlPlane): Promise<Map<string, number>> {
  const { body } = await apiRequest(plane, plane.adminToken, '/metrics');
  const counts = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (!line.startsWith('apiserver_flowcontrol_rejected_requests_total{')) continue;
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? '?';
    const key = `${label('priority_level')}/${label('reason')}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** What was refused between two readings: the total, how many for a full queue, and "level/reason count" pairs. */
export function refusedSince(before: Map<string, number>, after: Map<string, number>): { total: number; queueFull: number; detail: string } {
  const changed = [...after].map(([key, n]) => [key, n - (before.get(key) ?? 0)] as const).filter(([, n]) => n > 0);
  const sum = (entries: ReadonlyArray<readonly [string, number]>) => entries.reduce((total, [, n]) => total + n, 0);
  return {
    total: sum(changed),
    queueFull: sum(changed.filter(([key]) => key.endsWith('/queue-full'))),
    detail: changed.map(([key, n]) => `${key} ${n}`).join(', ') || 'none',
  };
}

export interface FleetCluster {
  core: CoreV1Api;
  objects: KubernetesObjectApi;
  /** A token of corridor's ServiceAccount, as the kubelet projects one: what every agent uses. */
  agentToken: string;
  /** The chart's FlowSchema and PriorityLevelConfiguration, rendered, not yet created. */
  flowControl: K8sObject[];
}

/** corridor's namespace and ServiceAccount, the chart's RBAC for it, and a token for the agents. */
export async function prepareFleetCluster(plane: ControlPlane, helmBin: string): Promise<FleetCluster> {
  const admin = plane.admin();
  const core = admin.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'corridor' } } });
  const rbac = renderChart(helmBin, { fullnameOverride: 'corridor' }, ['--show-only', 'templates/clusterrole.yaml', '--show-only', 'templates/clusterrolebinding.yaml']);
  for (const object of rbac) await objects.create(object);
  const flowControl = renderChart(helmBin, { fullnameOverride: 'corridor' }, ['--show-only', 'templates/flowcontrol.yaml']);
  const request = await core.createNamespacedServiceAccountToken({ name: 'corridor', namespace: NAMESPACE, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return { core, objects, agentToken: request.status?.token ?? '', flowControl };
}

/** Namespaces `names`, each with a default role (the annotation every agent keeps). */
export async function createNamespaces(cluster: FleetCluster, names: readonly string[]): Promise<void> {
  await inBatches(names, 16, (name) => cluster.core.createNamespace({ body: { metadata: { name, annotations: { 'iam.amazonaws.com/role': `role-${name}` } } } }));
}

/** `perNode` pods on each node from `nodes`, named after their place, spread over `namespaces` round-robin. */
export async function createPods(cluster: FleetCluster, nodes: readonly string[], perNode: number, namespaces: readonly string[]): Promise<number> {
  const pods = nodes.flatMap((node) => Array.from({ length: perNode }, (_, i) => ({ node, name: `${node}-pod-${i}` })));
  await inBatches(pods, 16, (pod) => {
    const namespace = namespaces[hashOf(pod.name) % namespaces.length] as string;
    return cluster.core.createNamespacedPod({ namespace, body: { metadata: { name: pod.name }, spec: { nodeName: pod.node, containers: [{ name: 'app', image: 'app' }] } } });
  });
  return pods.length;
}

function hashOf(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  return hash;
}

/** Which FlowSchema the API server puts the agents' namespace list in (APF names it in a response header). */
export async function flowSchemaOfAgents(plane: ControlPlane, agentToken: string): Promise<string | string[] | undefined> {
  return (await apiRequest(plane, agentToken, '/api/v1/namespaces?limit=1')).headers['x-kubernetes-pf-flowschema-uid'];
}

/** Creates the chart's flow schema and waits until the agents' requests are classified by it; returns what it created. */
export async function installFlowSchema(plane: ControlPlane, cluster: FleetCluster): Promise<KubernetesObject[]> {
  const created: KubernetesObject[] = await Promise.all(cluster.flowControl.map((object) => cluster.objects.create(object)));
  const uid = created.find((o) => o.kind === 'FlowSchema')?.metadata?.uid;
  await eventually("the agents' requests to be classified by the chart's FlowSchema", 30_000, async () => (await flowSchemaOfAgents(plane, cluster.agentToken)) === uid);
  return created;
}
