import https from 'node:https';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startFleet, stampValue, STAMP_ANNOTATION, type FleetResult } from '../test/helpers/agent-fleet.js';
import { apiRequest, createNamespaces, createPods, installFlowSchema, prepareFleetCluster, refusedSince, rejectedByServer, type FleetCluster } from '../test/helpers/fleet-cluster.js';
import { findHelm } from '../test/helpers/helm.js';
import { controlPlaneBinaries, startControlPlane, type ControlPlane } from '../test/helpers/kube-apiserver.js';
import type { TestScope } from '../test/helpers/peers.js';
import { cpuSeconds } from '../test/helpers/proc-stats.js';
import { KUBE_API_CONTENT_TYPES, PROTOBUF_CONTENT_TYPE, type KubeApiContentType } from '../src/kube/api/transport-types.js';
import { percentile } from './load.js';
import { table } from './table.js';

/**
 * `npm run bench:cluster`: what a cluster's API server sees when every node runs corridor. The
 * real kube-apiserver and etcd of the peer tests (test/helpers/kube-apiserver.ts) with API
 * Priority and Fairness on and the chart's FlowSchema and PriorityLevelConfiguration installed;
 * corridor's ServiceAccount under the chart's RBAC; namespaces with a default role each and pods
 * on every node. Per N, N agents' own Kubernetes code (corridor's HTTP transport, reflectors and
 * pod directory, unchanged; test/helpers/agent-fleet.ts) in a few processes start within 10 s as a
 * DaemonSet rollout starts them, then a stream of namespace and pod changes runs while they watch.
 * It prints per N a table, the issue's targets with pass or miss, and a model of 5,000 nodes.
 *
 * BENCH_CLUSTER_NODES (default "100,300,1000", run in that order against one control plane: pods
 * are added for each larger N), BENCH_CLUSTER_NAMESPACES (2000), BENCH_CLUSTER_PODS_PER_NODE (30),
 * BENCH_CLUSTER_PROCESSES (2: the agents' processes), BENCH_CLUSTER_INFLIGHT (the API server's
 * --max-requests-inflight, default 400 as the server's own; mutating seats are half of it),
 * BENCH_CLUSTER_CONTENT_TYPES (protobuf; `json,protobuf` runs each N with both, side by side),
 * BENCH_CLUSTER_CHANGES (40 ticks of the change stream, one every 250 ms: 8 namespace changes a
 * second, each an event to every agent). docs/performance.md
 * has the figures and the model's assumptions.
 */

const NAMESPACE_ROLE = STAMP_ANNOTATION;
const ALLOWED_ROLES = 'iam.amazonaws.com/allowed-roles';
const MIB = 1024 * 1024;

/** The issue's targets. */
const TARGET = { readyMs: 30_000, namespaceP99Ms: 100, startupBytes: 0.5 * MIB, connections: 1, nodes: 1000 };
/** What the model extrapolates to. */
const MODEL = { nodes: 5000, pods: 150_000 };
/** How long API Priority and Fairness lets a request wait in its queue: a quarter of the default --request-timeout (60 s). */
const APF_MAX_WAIT_S = 15;

export interface LoadShape {
  namespaces: number;
  podsPerNode: number;
  /** Processes the agents are spread over. */
  processes: number;
  /** Agent i starts i/N of this after the first. */
  rolloutMs: number;
  /** The chart's agent.kubeStartJitter. */
  startJitterMs: number;
  /** A rollout not ready by then is reported as it stands. */
  readyTimeoutMs: number;
  /** Ticks of the change stream, and the time between them. */
  changes: number;
  changeIntervalMs: number;
  /** What the agents' lists and watches ask for (the chart's agent.kubeApiContentType). */
  contentType: KubeApiContentType;
}

export const DEFAULT_SHAPE: LoadShape = {
  namespaces: 2000,
  podsPerNode: 30,
  processes: 2,
  rolloutMs: 10_000,
  startJitterMs: 200,
  readyTimeoutMs: 120_000,
  changes: 40,
  changeIntervalMs: 250,
  contentType: PROTOBUF_CONTENT_TYPE,
};

/** One control plane, prepared once, that fleets of growing N run against. */
export interface LoadCluster {
  plane: ControlPlane;
  cluster: FleetCluster;
  namespaces: readonly string[];
  /** The nodes that have their pods so far (node-0 .. node-(n-1)). */
  nodesWithPods: number;
}

/** What one N measured. */
export interface RolloutFigures {
  nodes: number;
  contentType: KubeApiContentType;
  pods: number;
  ready: number;
  lastReadyMs: number;
  /** APF's refusals by the server's own count (apiserver_flowcontrol_rejected_requests_total), rollout and stream. */
  refusedByServer: number;
  refusedDetail: string;
  /** 429s (and 503s with Retry-After) the agents saw. */
  throttledByAgents: number;
  relists: number;
  startupBytesPerAgent: number;
  /** Established connections to the API server per agent once every agent is ready, and the most seen during the rollout. */
  connectionsPerAgent: number;
  peakConnectionsPerAgent: number;
  apiServerCpuSeconds: number;
  etcdCpuSeconds: number;
  /** CPU-seconds of the fleet's processes over the rollout (their Node.js start included), per agent. */
  agentCpuSecondsPerAgent: number;
  /** The change stream: namespace changes stamped, how many reached every agent, and the times. */
  stamps: number;
  stampsReachingAll: number;
  toAllMs: { p50: number; p99: number };
  toEachMs: { p50: number; p99: number };
  /** API server and etcd CPU during the stream, per tick (one stamped and one other namespace change, one pod change). */
  streamCpuSecondsPerTick: number;
  /** The fleet processes' CPU during the stream, per tick: every agent handling two namespace events (and one agent a pod's). */
  agentStreamCpuSecondsPerTick: number;
  /** What one agent read from its sockets per namespace change during the stream (the watch event, on the wire). */
  bytesPerAgentPerNamespaceChange: number;
}

function nodeName(index: number): string {
  return `node-${index}`;
}

/** The control plane, the agents' identity, the chart's flow schema (in force before it returns) and the namespaces. */
export async function prepareLoadCluster(scope: Pick<TestScope, 'teardown'>, binaries: Parameters<typeof startControlPlane>[1], helmBin: string, shape: Pick<LoadShape, 'namespaces'>, inflight = 400): Promise<LoadCluster> {
  const plane = await startControlPlane(scope, binaries, { priorityAndFairness: { maxRequestsInflight: inflight, maxMutatingRequestsInflight: Math.max(1, Math.floor(inflight / 2)) } });
  const cluster = await prepareFleetCluster(plane, helmBin);
  await installFlowSchema(plane, cluster);
  const namespaces = Array.from({ length: shape.namespaces }, (_, i) => `team-${String(i).padStart(5, '0')}`);
  await createNamespaces(cluster, namespaces);
  return { plane, cluster, namespaces, nodesWithPods: 0 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function cpuOf(plane: ControlPlane): { apiServer: number; etcd: number } {
  const { kubeApiserver, etcd } = plane.processIds();
  if (kubeApiserver === undefined || etcd === undefined) throw new Error('kube-apiserver or etcd is not running');
  return { apiServer: cpuSeconds(kubeApiserver), etcd: cpuSeconds(etcd) };
}

/**
 * One rollout of `nodes` agents and the change stream after it: adds the pods of nodes not yet
 * populated, starts the fleet, waits until every agent is ready (or the time-out), streams
 * changes while the agents watch, and stops them.
 */
export async function measureRollout(scope: Pick<TestScope, 'teardown'>, load: LoadCluster, nodes: number, shape: LoadShape): Promise<RolloutFigures> {
  const { plane, cluster } = load;
  if (load.nodesWithPods < nodes) {
    await createPods(cluster, Array.from({ length: nodes - load.nodesWithPods }, (_, i) => nodeName(load.nodesWithPods + i)), shape.podsPerNode, load.namespaces);
    load.nodesWithPods = nodes;
  }
  const stampNamespace = load.namespaces[0] as string;
  const refusedBefore = await rejectedByServer(plane);
  const cpuBefore = cpuOf(plane);
  const fleet = startFleet(scope, {
    server: plane.server,
    ca: plane.caPem,
    token: cluster.agentToken,
    agents: nodes,
    processes: shape.processes,
    spreadMs: shape.rolloutMs,
    startJitterMs: shape.startJitterMs,
    contentType: shape.contentType,
    timeoutMs: shape.readyTimeoutMs,
    nodeName,
    stampNamespace,
  });
  const agentCpuBefore = fleet.cpuSeconds();
  try {
    let peakConnections = 0;
    const sampler = setInterval(() => (peakConnections = Math.max(peakConnections, fleet.connections())), 1000);
    const rollout = await fleet.rollout.finally(() => clearInterval(sampler));
    const cpuAfter = cpuOf(plane);
    const agentCpu = fleet.cpuSeconds() - agentCpuBefore;
    // Counted a little after the last agent is ready: what the agents hold open while they watch.
    await sleep(2000);
    const connections = fleet.connections();
    const beforeStream = await fleet.report();
    const agentCpuStreamStart = fleet.cpuSeconds();
    const stream = await streamChanges(load, nodes, shape, stampNamespace);
    const cpuStreamEnd = cpuOf(plane);
    const agentStreamCpu = fleet.cpuSeconds() - agentCpuStreamStart;
    const final = await settledReport(() => fleet.report(), stream.stamps, nodes);
    const refused = refusedSince(refusedBefore, await rejectedByServer(plane));
    const reached = [...final.stampLatenciesMs.values()];
    const toAll = reached.filter((latencies) => latencies.length === nodes).map((latencies) => Math.max(...latencies)).sort((a, b) => a - b);
    const toEach = reached.flat().sort((a, b) => a - b);
    const streamCpu = cpuStreamEnd.apiServer + cpuStreamEnd.etcd - (cpuAfter.apiServer + cpuAfter.etcd);
    return {
      nodes,
      contentType: shape.contentType,
      pods: nodes * shape.podsPerNode,
      ready: rollout.ready,
      lastReadyMs: rollout.lastReadyMs,
      refusedByServer: refused.total,
      refusedDetail: refused.detail,
      throttledByAgents: final.throttled,
      relists: final.relists,
      startupBytesPerAgent: rollout.startupBytes / nodes,
      connectionsPerAgent: connections / nodes,
      peakConnectionsPerAgent: peakConnections / nodes,
      apiServerCpuSeconds: cpuAfter.apiServer - cpuBefore.apiServer,
      etcdCpuSeconds: cpuAfter.etcd - cpuBefore.etcd,
      agentCpuSecondsPerAgent: agentCpu / nodes,
      stamps: stream.stamps,
      stampsReachingAll: toAll.length,
      toAllMs: { p50: percentile(toAll, 0.5), p99: percentile(toAll, 0.99) },
      toEachMs: { p50: percentile(toEach, 0.5), p99: percentile(toEach, 0.99) },
      streamCpuSecondsPerTick: streamCpu / shape.changes,
      agentStreamCpuSecondsPerTick: agentStreamCpu / shape.changes,
      // Two namespace changes per tick reach every agent; a pod change reaches one agent in N.
      bytesPerAgentPerNamespaceChange: (final.bytesRead - beforeStream.bytesRead) / nodes / (2 * shape.changes),
    };
  } finally {
    await fleet.stop();
  }
}

/**
 * The change stream: every tick a stamped change of one namespace's default role (the agents time
 * it), another namespace's allowed roles, and a pod created on a random node (or, every other
 * tick, the previous one deleted). The pods are gone when it returns.
 */
async function streamChanges(load: LoadCluster, nodes: number, shape: LoadShape, stampNamespace: string): Promise<{ stamps: number }> {
  const { plane } = load;
  const agent = new https.Agent({ keepAlive: true, ca: plane.caPem, maxSockets: 8 });
  const token = plane.adminToken;
  const patchNamespace = (name: string, annotations: Record<string, string>) =>
    apiRequest(plane, token, `/api/v1/namespaces/${name}`, { method: 'PATCH', contentType: 'application/merge-patch+json', json: { metadata: { annotations } }, agent }).then(expectStatus(200));
  const churn: Array<{ namespace: string; name: string }> = [];
  const podChange = (tick: number) => {
    if (tick % 2 === 1) {
      const pod = churn.shift();
      return pod ? apiRequest(plane, token, `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}?gracePeriodSeconds=0`, { method: 'DELETE', agent }).then(expectStatus(200)) : Promise.resolve();
    }
    const pod = { namespace: pick(load.namespaces), name: `churn-${tick}` };
    churn.push(pod);
    const body = { metadata: { name: pod.name }, spec: { nodeName: nodeName(Math.floor(Math.random() * nodes)), containers: [{ name: 'app', image: 'app' }] } };
    return apiRequest(plane, token, `/api/v1/namespaces/${pod.namespace}/pods`, { method: 'POST', contentType: 'application/json', json: body, agent }).then(expectStatus(201));
  };
  try {
    const startedAt = Date.now();
    for (let tick = 0; tick < shape.changes; tick++) {
      await sleep(startedAt + tick * shape.changeIntervalMs - Date.now());
      const stamp = stampValue(Date.now());
      await Promise.all([
        patchNamespace(stampNamespace, { [NAMESPACE_ROLE]: stamp }),
        patchNamespace(pick(load.namespaces.slice(1)), { [ALLOWED_ROLES]: `["churn-${tick}"]` }),
        podChange(tick),
      ]);
    }
    for (const pod of churn) await apiRequest(plane, token, `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}?gracePeriodSeconds=0`, { method: 'DELETE', agent });
  } finally {
    agent.destroy();
  }
  return { stamps: shape.changes };
}

function expectStatus(status: number): (answer: { status: number; body: string }) => void {
  return (answer) => {
    if (answer.status !== status) throw new Error(`API server answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  };
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

/** The fleet's report once every stamp has reached every agent, or after 10 s of waiting for the stragglers. */
async function settledReport(report: () => Promise<FleetResult>, stamps: number, agents: number): Promise<FleetResult> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const result = await report();
    const complete = result.stampLatenciesMs.size >= stamps && [...result.stampLatenciesMs.values()].every((latencies) => latencies.length >= agents);
    if (complete || Date.now() > deadline) return result;
    await sleep(250);
  }
}

// ---- printing ----

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : `${value.toFixed(1)}`);
const count = (n: number) => Math.round(n).toLocaleString('en-US');

function bytes(n: number): string {
  if (n >= MIB) return `${(n / MIB).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** The per-N table, one column per N. */
export function formatFigures(figures: readonly RolloutFigures[]): string {
  const row = (label: string, cell: (f: RolloutFigures) => string) => [label, ...figures.map(cell)];
  return table(
    ['', ...figures.map((f) => `N=${count(f.nodes)} (${count(f.pods)} pods)${sideBySide(figures) ? `, ${shortType(f.contentType)}` : ''}`)],
    [
      row('agents ready', (f) => `${count(f.ready)} of ${count(f.nodes)}`),
      row('last agent ready after the first start', (f) => seconds(f.lastReadyMs)),
      row('API server 429s: APF refused (server metric) / the agents saw', (f) => `${count(f.refusedByServer)} / ${count(f.throttledByAgents)}${f.refusedByServer > 0 ? ` (${f.refusedDetail})` : ''}`),
      row('relists (lists after a resource was listed)', (f) => count(f.relists)),
      row('namespace change reaching all agents, p50 / p99 (ms)', (f) => `${ms(f.toAllMs.p50)} / ${ms(f.toAllMs.p99)}${f.stampsReachingAll < f.stamps ? ` (${f.stamps - f.stampsReachingAll} of ${f.stamps} did not reach all)` : ''}`),
      row('namespace change reaching one agent, p50 / p99 (ms)', (f) => `${ms(f.toEachMs.p50)} / ${ms(f.toEachMs.p99)}`),
      row('bytes per agent at start-up (read from its sockets, gzip on)', (f) => bytes(f.startupBytesPerAgent)),
      row('connections per agent to the API server (ready; peak in rollout)', (f) => `${f.connectionsPerAgent.toFixed(2)}; ${f.peakConnectionsPerAgent.toFixed(2)}`),
      row('API-server CPU-seconds per rollout (kube-apiserver + etcd)', (f) => `${(f.apiServerCpuSeconds + f.etcdCpuSeconds).toFixed(1)} (${f.apiServerCpuSeconds.toFixed(1)} + ${f.etcdCpuSeconds.toFixed(1)})`),
      row('agents\' CPU-ms per agent at start-up (the fleet processes, Node.js start included)', (f) => (f.agentCpuSecondsPerAgent * 1000).toFixed(1)),
      row('API-server CPU-ms per change-stream tick (2 namespace + 1 pod change)', (f) => (f.streamCpuSecondsPerTick * 1000).toFixed(1)),
      row('agents\' CPU-ms per change-stream tick (all N agents, in the fleet processes)', (f) => (f.agentStreamCpuSecondsPerTick * 1000).toFixed(1)),
      row('bytes per agent per namespace change (watch event)', (f) => bytes(f.bytesPerAgentPerNamespaceChange)),
    ],
  );
}

/** Whether the runs compare content types (BENCH_CLUSTER_CONTENT_TYPES names more than one). */
function sideBySide(figures: readonly RolloutFigures[]): boolean {
  return new Set(figures.map((f) => f.contentType)).size > 1;
}

function shortType(contentType: KubeApiContentType): string {
  return contentType === PROTOBUF_CONTENT_TYPE ? 'protobuf' : 'JSON';
}

/** The runs with what the chart ships (protobuf) when the bench compared content types; all of them otherwise. */
function shipped(figures: readonly RolloutFigures[]): readonly RolloutFigures[] {
  return sideBySide(figures) ? figures.filter((f) => f.contentType === DEFAULT_SHAPE.contentType) : figures;
}

/** The issue's targets, each with the figure that decides it and pass or miss; evaluated at the largest N run (of what the chart ships). */
export function formatTargets(all: readonly RolloutFigures[]): string[] {
  const figures = shipped(all);
  const largest = figures.reduce<RolloutFigures | undefined>((best, f) => (best === undefined || f.nodes > best.nodes ? f : best), undefined);
  if (largest === undefined) return [];
  const verdict = (ok: boolean) => (ok ? 'pass' : 'MISS');
  const at = `at N=${count(largest.nodes)}${largest.nodes < TARGET.nodes ? ` (the target names N=${count(TARGET.nodes)}, not run)` : ''}`;
  const zeroRefused = largest.refusedByServer === 0 && largest.throttledByAgents === 0;
  const allReady = largest.ready === largest.nodes && largest.lastReadyMs <= TARGET.readyMs;
  const line = (target: string, ok: boolean, figure: string) => `  ${target.padEnd(58)} ${verdict(ok)}  (${figure})`;
  return [
    `targets, ${at}:`,
    line("rollout with the chart's flow schema: zero 429s", zeroRefused, `${count(largest.refusedByServer)} refused by APF, ${count(largest.throttledByAgents)} seen by the agents`),
    line(`every agent ready within ${seconds(TARGET.readyMs)}`, allReady, `${count(largest.ready)} of ${count(largest.nodes)} ready, the last after ${seconds(largest.lastReadyMs)}`),
    line(`namespace change to all agents p99 <= ${TARGET.namespaceP99Ms} ms`, largest.stampsReachingAll === largest.stamps && largest.toAllMs.p99 <= TARGET.namespaceP99Ms, `${ms(largest.toAllMs.p99)} ms; ${largest.stampsReachingAll} of ${largest.stamps} changes reached all`),
    line('bytes per agent at start-up <= 0.5 MiB', largest.startupBytesPerAgent <= TARGET.startupBytes, bytes(largest.startupBytesPerAgent)),
    line('one connection per agent (the API server offers HTTP/2)', largest.connectionsPerAgent <= TARGET.connections, `${largest.connectionsPerAgent.toFixed(2)} once ready`),
  ];
}

/**
 * A figure carried to `n` nodes from the runs' (N, value) points: the least-squares line when it
 * rises with N over at least two runs, else the largest run's value (the runs show no growth).
 */
function extrapolate(points: ReadonlyArray<readonly [number, number]>, n: number): { value: number; how: string } {
  const [lastX, lastY] = points.reduce((best, point) => (point[0] > best[0] ? point : best));
  if (points.length >= 2) {
    const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
    const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
    const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
    const b = sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
    const a = my - b * mx;
    if (b > 0) return { value: a + b * n, how: `line fitted over N: ${(b * 1000).toPrecision(3)} per 1,000 nodes ${a >= 0 ? '+' : '-'} ${Math.abs(a).toPrecision(3)}` };
  }
  return { value: lastY, how: `no growth with N measured: the value at N=${count(lastX)}` };
}

/**
 * The model: the measured figures carried to 5,000 nodes and 150,000 pods (30 per node), with
 * the same namespaces. Per agent, start-up bytes, connections and the bytes of one namespace
 * event do not depend on N (an agent lists every namespace and its own node's pods); the API
 * server's CPU per rollout is the largest run's CPU per agent times the nodes (a rollout's work is
 * the agents' lists); a change's CPU and its time to reach every agent are extrapolated from the
 * runs (extrapolate()).
 */
export function formatModel(all: readonly RolloutFigures[], namespaces: number): string[] {
  const figures = shipped(all);
  if (figures.length === 0) return [];
  const largest = figures.reduce((best, f) => (f.nodes > best.nodes ? f : best));
  const n = MODEL.nodes;
  const startupBytes = largest.startupBytesPerAgent;
  const connections = largest.connectionsPerAgent;
  const cpuPerAgent = (largest.apiServerCpuSeconds + largest.etcdCpuSeconds) / largest.nodes;
  const cpuAtModel = cpuPerAgent * n;
  const tickCpu = extrapolate(figures.map((f) => [f.nodes, f.streamCpuSecondsPerTick * 1000]), n);
  const eventBytes = largest.bytesPerAgentPerNamespaceChange;
  const reached = figures.filter((f) => !Number.isNaN(f.toAllMs.p99));
  const toAll = reached.length > 0 ? extrapolate(reached.map((f) => [f.nodes, f.toAllMs.p99]), n) : undefined;
  const serveSeconds = (cores: number) => cpuAtModel / cores;
  return [
    `model: ${count(n)} nodes, ${count(MODEL.pods)} pods (${count(MODEL.pods / n)} per node), ${count(namespaces)} namespaces, serviceaccounts not watched; from the runs at N = ${figures.map((f) => count(f.nodes)).join(', ')}`,
    `  start-up bytes from the API servers per rollout: ${bytes(startupBytes * n)} (${bytes(startupBytes)} per agent at N=${count(largest.nodes)}; independent of N)`,
    `  connections to the API servers: ${count(connections * n)} (${connections.toFixed(2)} per agent), holding ${count(2 * n)} watches`,
    `  requests at start: ${count(4 * n)} (a list and a watch of pods and of namespaces per agent); the chart's priority level queues 3,000 (15 queues x 200)`,
    `  API server + etcd CPU per rollout: ${count(cpuAtModel)} CPU-s (${(cpuPerAgent * 1000).toFixed(1)} CPU-ms per agent at N=${count(largest.nodes)}); served in ${count(serveSeconds(4))} s on 4 cores, ${count(serveSeconds(16))} s on 16`,
    `  so every agent started within 10 s waits no longer than APF's ${APF_MAX_WAIT_S} s only when the API servers give the agents ${Math.ceil(cpuAtModel / (10 + APF_MAX_WAIT_S))} cores; on 4 cores the starts must spread over at least ${count(Math.max(0, serveSeconds(4) - APF_MAX_WAIT_S))} s`,
    `  one namespace change: ${count(n)} watch events, ${bytes(eventBytes * n)} on the wire (${bytes(eventBytes)} per agent); a pod change: 1 event to 1 agent (field selector)`,
    `  API server + etcd CPU per change-stream tick (2 namespace changes, 1 pod change): ${count(tickCpu.value)} CPU-ms (${tickCpu.how})`,
    toAll
      ? `  namespace change reaching all agents, p99: ${count(toAll.value)} ms (${toAll.how}; one API server holds every watch: with k instances, each fans out to N/k)`
      : '  namespace change reaching all agents: no change reached every agent in any run, nothing to extrapolate',
  ];
}

// ---- the command ----

/** A teardown list for running the helpers outside tap: run last-registered first, once. */
function benchScope(): { scope: TestScope; close: () => Promise<void> } {
  const teardowns: Array<() => unknown> = [];
  return {
    scope: { setTimeout: () => undefined, teardown: (fn: () => unknown) => void teardowns.push(fn) },
    close: async () => {
      for (const fn of teardowns.splice(0).reverse()) {
        try {
          await fn();
        } catch (error) {
          process.stderr.write(`teardown: ${(error as Error).message}\n`);
        }
      }
    },
  };
}

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${process.env[name]}`);
  return value;
}

/** BENCH_CLUSTER_CONTENT_TYPES: `protobuf` (default, what the chart ships), `json`, or both (`json,protobuf`: each N runs both, in that order). */
function envContentTypes(): KubeApiContentType[] {
  const names = (process.env.BENCH_CLUSTER_CONTENT_TYPES ?? 'protobuf').split(',').map((name) => name.trim().toLowerCase());
  return names.map((name) => {
    const type = KUBE_API_CONTENT_TYPES.find((candidate) => shortType(candidate).toLowerCase() === name);
    if (type === undefined) throw new Error(`BENCH_CLUSTER_CONTENT_TYPES names protobuf or json, not ${name}`);
    return type;
  });
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_CLUSTER_NODES ?? '100,300,1000').split(',').map((n) => Number(n.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`BENCH_CLUSTER_NODES must be positive integers, not ${process.env.BENCH_CLUSTER_NODES}`);
  const shape: LoadShape = {
    ...DEFAULT_SHAPE,
    namespaces: envNumber('BENCH_CLUSTER_NAMESPACES', DEFAULT_SHAPE.namespaces),
    podsPerNode: envNumber('BENCH_CLUSTER_PODS_PER_NODE', DEFAULT_SHAPE.podsPerNode),
    processes: envNumber('BENCH_CLUSTER_PROCESSES', DEFAULT_SHAPE.processes),
    changes: envNumber('BENCH_CLUSTER_CHANGES', DEFAULT_SHAPE.changes),
  };
  const contentTypes = envContentTypes();
  const inflight = envNumber('BENCH_CLUSTER_INFLIGHT', 400);
  const { scope, close } = benchScope();
  process.once('SIGINT', () => void close().then(() => process.exit(130)));
  try {
    const control = controlPlaneBinaries(scope);
    if (!control.ok) throw new Error(`kube-apiserver and etcd are needed (scripts/build-kube-apiserver.sh, scripts/build-etcd.sh): ${control.reason}`);
    const helm = findHelm(scope);
    if (!helm.ok) throw new Error(`helm is needed for the chart's flow schema and RBAC: ${helm.reason}`);
    const log = (line: string) => process.stdout.write(`${line}\n`);
    const load = await prepareLoadCluster(scope, control.binaries, helm.bin, shape, inflight);
    log(`kube-apiserver ${load.plane.version} and etcd on loopback, API Priority and Fairness on (--max-requests-inflight ${inflight}), the chart's flow schema in force`);
    log(`${count(shape.namespaces)} namespaces, ${shape.podsPerNode} pods per node; agents in ${shape.processes} processes, started over ${seconds(shape.rolloutMs)} with ${shape.startJitterMs} ms jitter; change stream ${shape.changes} ticks every ${shape.changeIntervalMs} ms`);
    log(`machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${new Date().toISOString()}`);
    const figures: RolloutFigures[] = [];
    for (const nodes of [...sizes].sort((a, b) => a - b)) {
      for (const contentType of contentTypes) {
        const result = await measureRollout(scope, load, nodes, { ...shape, contentType });
        figures.push(result);
        log(`N=${count(nodes)}, ${shortType(contentType)}: ${result.ready} ready, the last after ${seconds(result.lastReadyMs)}; load average ${loadavg()[0]?.toFixed(1)}`);
      }
    }
    log('');
    log(formatFigures(figures));
    log('');
    for (const line of formatTargets(figures)) log(line);
    log('');
    for (const line of formatModel(figures, shape.namespaces)) log(line);
  } finally {
    await close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:cluster failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
