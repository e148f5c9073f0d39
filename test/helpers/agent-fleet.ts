import type { KubeApiContentType } from '../../src/kube/api/transport-types.js';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestScope } from './peers.js';
import { cpuSeconds, establishedConnections } from './proc-stats.js';

// The child is TypeScript under tap and JavaScript when a bench compiled to dist/ starts it.
const CHILD = fileURLToPath(new URL(`./agent-fleet-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** The namespace annotation a stamped change sets: the default role, which every agent keeps (decisions read it). */
export const STAMP_ANNOTATION = 'iam.amazonaws.com/role';
const STAMP_PREFIX = 'stamp-';

/** A stamp value for a change sent now: the role `stamp-<ms since epoch>`. */
export function stampValue(sentAtMs: number): string {
  return `${STAMP_PREFIX}${sentAtMs}`;
}

/** When a stamped change was sent, or undefined for any other value. */
export function stampTime(value: string | undefined): number | undefined {
  if (value === undefined || !value.startsWith(STAMP_PREFIX)) return undefined;
  const ms = Number(value.slice(STAMP_PREFIX.length));
  return Number.isFinite(ms) ? ms : undefined;
}

/** What a fleet process is told: its agents' nodes and when each starts (ms after epochMs, a wall-clock time). */
export interface FleetChildStart {
  server: string;
  ca: string;
  token: string;
  nodes: string[];
  offsetsMs: number[];
  epochMs: number;
  startJitterMs: number;
  /** What the agents' lists and watches ask for (--kube-api-content-type); the transport's default when unset. */
  contentType?: KubeApiContentType;
  /** A namespace whose role annotation is stamped with the time of each change (stampValue): each agent times its arrival. */
  stampNamespace?: string;
}

/** What a fleet process reports (see FleetResult, which sums them). */
export interface FleetChildReport {
  type: 'progress' | 'done';
  readyAtMs: Array<number | undefined>;
  throttled: number;
  relists: number;
  startupBytes: number;
  bytesRead: number;
  /** The process's established TCP connections to the API server when it reported. */
  connections: number;
  /** By stamp value: how long after it was sent each of this process's agents had it, in ms. */
  stampLatenciesMs: Record<string, number[]>;
}

export interface FleetOptions {
  server: string;
  ca: string;
  /** The bearer token every agent uses: its ServiceAccount's, as on every node. */
  token: string;
  agents: number;
  /** Processes the agents are spread over (the machine's cores, for the agents' JSON parsing). */
  processes: number;
  /** Agent i starts i/agents of this after the first: a rollout over every node. */
  spreadMs: number;
  /** The agents' own --kube-start-jitter. */
  startJitterMs: number;
  /** The agents' own --kube-api-content-type (default: what the chart ships, protobuf). */
  contentType?: KubeApiContentType;
  /** How long to wait for every agent to be ready before reporting who is. */
  timeoutMs: number;
  nodeName(index: number): string;
  stampNamespace?: string;
}

export interface FleetResult {
  agents: number;
  /** Agents whose first lists were in before the time-out. */
  ready: number;
  /** The last ready agent's time after the first agent started, in ms. */
  lastReadyMs: number;
  /** Lists and watches the API server refused (429, or 503 with Retry-After), all agents together. */
  throttled: number;
  /** Lists begun after that resource's first complete list (after a 410 or a failed watch), all agents together. */
  relists: number;
  /**
   * What the fleet's processes read from their sockets (TLS records of gzipped answers, from
   * /proc/<pid>/io rchar) from before the first agent started until the last of each process
   * was ready (or now, for a process whose agents are not all ready).
   */
  startupBytes: number;
  /** What the fleet's processes have read so far (as startupBytes, up to now). */
  bytesRead: number;
  /** TCP connections the agents held to the API server when the processes reported, all together (one per agent over HTTP/2). */
  connections: number;
  /** By stamp value: how long after it was sent each agent had it, in ms (an agent that never had it is missing). */
  stampLatenciesMs: Map<string, number[]>;
}

export interface Fleet {
  /** Resolves when every agent is ready, or at the time-out with who is by then. */
  readonly rollout: Promise<FleetResult>;
  /** Established TCP connections from the fleet's processes to the API server's port, now. */
  connections(): number;
  /** User + system CPU-seconds the fleet's processes have used so far (/proc/<pid>/stat). */
  cpuSeconds(): number;
  /** What the processes report now. */
  report(): Promise<FleetResult>;
  /** Stops every agent and process. */
  stop(): Promise<void>;
}

/**
 * N agents' Kubernetes code (corridor's HTTP transport and pod directory, unchanged) in a few
 * processes, started over `spreadMs` as a DaemonSet rollout starts them. They run until stop();
 * `scope.teardown` kills any process still running.
 */
export function startFleet(scope: Pick<TestScope, 'teardown'>, options: FleetOptions): Fleet {
  const epochMs = Date.now() + 2000; // the processes start and load the code first
  const shares = Array.from({ length: options.processes }, (_, p) => Array.from({ length: options.agents }, (_, i) => i).filter((i) => i % options.processes === p));
  const children: ChildProcess[] = [];
  const reports: FleetChildReport[] = [];
  scope.teardown(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });
  const finished = shares.map((indices, p) => {
    const child = fork(CHILD, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const start: FleetChildStart = {
      server: options.server,
      ca: options.ca,
      token: options.token,
      nodes: indices.map((i) => options.nodeName(i)),
      offsetsMs: indices.map((i) => Math.round((i * options.spreadMs) / options.agents)),
      epochMs,
      startJitterMs: options.startJitterMs,
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
      ...(options.stampNamespace !== undefined ? { stampNamespace: options.stampNamespace } : {}),
    };
    child.send(start);
    child.on('message', (report: FleetChildReport) => {
      reports[p] = report;
    });
    return new Promise<void>((resolve, reject) => {
      child.on('message', (report: FleetChildReport) => {
        if (report.type === 'done') resolve();
      });
      child.on('exit', (code) => reject(new Error(`fleet process ${p} exited (${String(code)}) before its agents were ready`)));
    });
  });

  /** Every process's report as of now (one answer each to a 'report' message). */
  const report = async (): Promise<FleetResult> => {
    await Promise.all(
      children.map((child) => {
        const answered = new Promise<void>((resolve) => child.once('message', () => resolve()));
        child.send({ type: 'report' });
        return answered;
      }),
    );
    return combine(options.agents, reports);
  };

  const rollout = (async () => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), options.timeoutMs + 2000 + options.spreadMs)));
    const outcome = await Promise.race([Promise.all(finished), timedOut]);
    clearTimeout(timer);
    return outcome === 'timeout' ? report() : combine(options.agents, reports);
  })();
  // A process that dies is a failed rollout, reported through `rollout`; stop() must not throw it again.
  for (const done of finished) done.catch(() => undefined);

  const pids = () => children.map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
  return {
    rollout,
    connections: () => establishedConnections(pids(), Number(new URL(options.server).port)),
    cpuSeconds: () => pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    report,
    async stop() {
      await Promise.all(
        children.map(async (child) => {
          if (child.connected) child.send({ type: 'stop' });
          if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
        }),
      );
    },
  };
}

/**
 * Runs a rollout of `options.agents` agents (see startFleet) until every agent is ready or the
 * time-out, then stops them all. The result is the processes' report once every agent's watches
 * have had the time to open (the connections held then).
 */
export async function runFleet(scope: Pick<TestScope, 'teardown'>, options: FleetOptions): Promise<FleetResult> {
  const fleet = startFleet(scope, options);
  try {
    await fleet.rollout;
    return await fleet.report();
  } finally {
    await fleet.stop();
  }
}

function combine(agents: number, reports: readonly FleetChildReport[]): FleetResult {
  const readyAt = reports.flatMap((report) => report.readyAtMs).filter((ms): ms is number => ms !== undefined);
  const stampLatenciesMs = new Map<string, number[]>();
  for (const report of reports) {
    for (const [stamp, latencies] of Object.entries(report.stampLatenciesMs)) stampLatenciesMs.set(stamp, [...(stampLatenciesMs.get(stamp) ?? []), ...latencies]);
  }
  const sum = (field: 'throttled' | 'relists' | 'startupBytes' | 'bytesRead' | 'connections') => reports.reduce((total, report) => total + report[field], 0);
  return {
    agents,
    ready: readyAt.length,
    lastReadyMs: Math.max(0, ...readyAt),
    throttled: sum('throttled'),
    relists: sum('relists'),
    startupBytes: sum('startupBytes'),
    bytesRead: sum('bytesRead'),
    connections: sum('connections'),
    stampLatenciesMs,
  };
}
