import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const CHILD = fileURLToPath(new URL('./agent-fleet-child.ts', import.meta.url));

/** What a fleet process is told: its agents' nodes and when each starts (ms after epochMs, a wall-clock time). */
export interface FleetChildStart {
  server: string;
  ca: string;
  token: string;
  nodes: string[];
  offsetsMs: number[];
  epochMs: number;
  startJitterMs: number;
}

/**
 * Per agent, when it was ready (ms after the epoch) or undefined; the lists and watches refused
 * with 429 or 503; the process's TCP connections to the API server when it reported.
 */
export interface FleetChildReport {
  type: 'progress' | 'done';
  readyAtMs: Array<number | undefined>;
  throttled: number;
  connections: number;
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
  /** How long to wait for every agent to be ready before reporting who is. */
  timeoutMs: number;
  nodeName(index: number): string;
}

export interface FleetResult {
  agents: number;
  /** Agents whose first lists were in before the time-out. */
  ready: number;
  /** The last ready agent's time after the first agent started, in ms. */
  lastReadyMs: number;
  /** Lists and watches the API server refused (429, or 503 with Retry-After), all agents together. */
  throttled: number;
  /** TCP connections the agents held to the API server at the end, all together (one per agent over HTTP/2). */
  connections: number;
}

/**
 * N agents' Kubernetes code (corridor's HTTP transport and pod directory, unchanged) in a few
 * processes, started over `spreadMs` as a DaemonSet rollout starts them; resolves when every agent
 * is ready or at the time-out, whichever is first, and stops them all.
 */
export async function runFleet(t: Test, options: FleetOptions): Promise<FleetResult> {
  const epochMs = Date.now() + 2000; // the processes start and load the code first
  const shares = Array.from({ length: options.processes }, (_, p) => Array.from({ length: options.agents }, (_, i) => i).filter((i) => i % options.processes === p));
  const children: ChildProcess[] = [];
  const reports: FleetChildReport[] = [];
  const stopAll = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.connected) child.send({ type: 'stop' });
        if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      }),
    );
  };
  t.teardown(() => {
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
    };
    child.send(start);
    return new Promise<void>((resolve, reject) => {
      child.on('message', (report: FleetChildReport) => {
        reports[p] = report;
        resolve();
      });
      child.on('exit', (code) => reject(new Error(`fleet process ${p} exited (${String(code)}) before reporting`)));
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), options.timeoutMs + 2000 + options.spreadMs)));
  await Promise.race([Promise.all(finished), timedOut]);
  // Who is ready by now and the connections held, once every watch is open: each process answers with its progress.
  for (const [p, child] of children.entries()) {
    const progress = new Promise<FleetChildReport>((resolve) => child.once('message', resolve));
    child.send({ type: 'report' });
    reports[p] = await progress;
  }
  clearTimeout(timer);
  await stopAll();
  const readyAt = reports.flatMap((report) => report.readyAtMs).filter((ms): ms is number => ms !== undefined);
  return {
    agents: options.agents,
    ready: readyAt.length,
    lastReadyMs: Math.max(0, ...readyAt),
    throttled: reports.reduce((sum, report) => sum + report.throttled, 0),
    connections: reports.reduce((sum, report) => sum + report.connections, 0),
  };
}
