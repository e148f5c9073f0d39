import { setTimeout as sleep } from 'node:timers/promises';
import type { FakeSts } from '../demo/index.js';
import { agentArgs, CREDENTIALS_PATH, scaleObjects, startCluster, type ScaleShape } from './cluster.js';
import { fixedRate, type FixedRateResult } from './load.js';
import { waitForSessions } from './probe.js';
import { cpuShare, ServerProcess } from './servers.js';

export interface ScaleResult {
  shape: ScaleShape;
  sessions: number;
  /** From agent start to ready with every pod's session cached (STS latency included). */
  warmupSeconds: number;
  rssIdleMb: number;
  /** Share of one core while nothing asks (watches open, timers armed). */
  cpuIdle: number;
  load: FixedRateResult & { rate: number; cpu: number; cpuMicrosPerRequest: number };
  rssAfterLoadMb: number;
}

const MB = 1024 * 1024;

/** The agent on a node with `shape.pods` pods in a cluster of `shape.namespaces` namespaces: memory, CPU idle and under load. */
export async function measureScale(shape: ScaleShape, sts: FakeSts, rate: number, durationMs: number, nodeOptions: readonly string[] = []): Promise<ScaleResult> {
  const { objects, pods } = scaleObjects(shape);
  const cluster = await startCluster(objects);
  // One session per (role, namespace).
  const sessions = new Set(pods.map((pod) => `${pod.role} ${pod.namespace}`)).size;
  const started = performance.now();
  const agent = await ServerProcess.start({ type: 'start-agent', args: agentArgs(cluster.kubeconfig, sts.url), stsEndpoint: sts.url }, nodeOptions);
  try {
    await waitForSessions(agent.adminUrl!, sessions, 60_000);
    const warmupSeconds = (performance.now() - started) / 1000;
    await sleep(2000);
    const idleFrom = await agent.stats();
    await sleep(5000);
    const idleTo = await agent.stats();
    const roleOf = new Map(pods.map((pod) => [pod.ip, pod.role]));
    const options = {
      url: agent.url,
      path: (ip: string) => CREDENTIALS_PATH + roleOf.get(ip),
      rate,
      sources: pods.map((pod) => pod.ip),
      socketsPerSource: 1,
    };
    // Warm every connection and the JIT, then measure on the same connections.
    let loadFrom = idleTo;
    let loadTo = idleTo;
    const load = await fixedRate({
      ...options,
      warmupMs: 3000,
      durationMs,
      around: {
        before: async () => void (loadFrom = await agent.stats()),
        after: async () => void (loadTo = await agent.stats()),
      },
    });
    return {
      shape,
      sessions,
      warmupSeconds,
      rssIdleMb: idleTo.rss / MB,
      cpuIdle: cpuShare(idleFrom, idleTo),
      load: { ...load, rate, cpu: cpuShare(loadFrom, loadTo), cpuMicrosPerRequest: (loadTo.cpuMicros - loadFrom.cpuMicros) / Math.max(1, load.ok + load.failed) },
      rssAfterLoadMb: loadTo.rss / MB,
    };
  } finally {
    await agent.stop();
    await cluster.close();
  }
}
