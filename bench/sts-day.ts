import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { parseAgentConfig } from '../src/config/index.js';
import { createSessionCache, type AssumeRequest, type Session, type SessionKey, type SessionScope } from '../src/credentials/index.js';
import { createLogger } from '../src/log/index.js';
import { createMetrics } from '../src/metrics/index.js';
import type { Clock, Scheduler, Timer } from '../src/time/index.js';
import { agentArgs, BASE_ROLE_ARN, NODE } from './cluster.js';

export interface StsDayShape {
  pods: number;
  roles: number;
  namespaces: number;
  /** Mean pod lifetime; a finished pod is replaced (same namespace and role) after `restartGapMs`. */
  meanPodLifetimeMs: number;
  restartGapMs: number;
  /** How often each pod asks for credentials. */
  requestEveryMs: number;
  /** Who shares a session, as --session-scope: namespace (default) or pod. */
  sessionScope?: SessionScope;
  /**
   * web-identity: every session key names the pod's ServiceAccount (one per role in each namespace
   * here, as IRSA-style setups have), and each call is an AssumeRoleWithWebIdentity. Default node-role.
   */
  credentialMode?: 'node-role' | 'web-identity';
  /** --session-duration; default the agent's (1 h). Web-identity sessions may be up to 12 h. */
  sessionDurationMs?: number;
}

export interface StsDayResult {
  shape: StsDayShape;
  sessionScope: SessionScope;
  /** Sessions alive at once: distinct (role, namespace) pairs the pods use, or (pod scope) the pods. */
  sessionKeys: number;
  requestsPerHour: number;
  stsCallsPerHour: { mean: number; firstHour: number; maxHour: number; minHour: number };
  /** Steady state (hours 2-24), per session key. */
  callsPerKeyHour: number;
  podStarts: number;
}

/** The same day in both scopes: what --session-scope=pod costs in STS calls. */
export interface StsDayByScope {
  namespace: StsDayResult;
  pod: StsDayResult;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A clock and timer queue that jump from event to event: a day runs in about a second. */
class SimTime implements Clock, Scheduler {
  current = Date.UTC(2026, 0, 1);
  private queue: Array<{ at: number; seq: number; task: () => void; live: boolean }> = [];
  private seq = 0;

  now(): number {
    return this.current;
  }

  schedule(delayMs: number, task: () => void): Timer {
    const entry = { at: this.current + Math.max(0, delayMs), seq: this.seq++, task, live: true };
    this.push(entry);
    return { cancel: () => { entry.live = false; } };
  }

  /** Runs every task due before `end` in time order, letting promise callbacks settle after each. */
  async runUntil(end: number): Promise<void> {
    for (;;) {
      const next = this.pop();
      if (next === undefined || next.at > end) {
        if (next) this.push(next);
        break;
      }
      if (!next.live) continue;
      this.current = next.at;
      next.task();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.current = end;
  }

  // A binary heap on (at, seq).
  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(entry: SimTime['queue'][number]): void {
    const q = this.queue;
    q.push(entry);
    for (let i = q.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(q[i]!, q[parent]!)) break;
      [q[i], q[parent]] = [q[parent]!, q[i]!];
      i = parent;
    }
  }

  private pop(): SimTime['queue'][number] | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length > 0 && last !== undefined) {
      q[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < q.length && this.less(q[l]!, q[m]!)) m = l;
        if (r < q.length && this.less(q[r]!, q[m]!)) m = r;
        if (m === i) break;
        [q[i], q[m]] = [q[m]!, q[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** A small deterministic PRNG, so every run simulates the same day. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A simulated day of one node with the real session cache and default timings: pods start,
 * ask for credentials every few minutes, end and are replaced; prefetch and retain are wired
 * as the agent wires them. Counts AssumeRole calls per hour.
 */
export async function simulateStsDay(shape: StsDayShape): Promise<StsDayResult> {
  const sessionScope = shape.sessionScope ?? 'namespace';
  const webIdentity = shape.credentialMode === 'web-identity';
  const parsed = parseAgentConfig(agentArgs('/dev/null', 'http://127.0.0.1:9'), {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const config = parsed.config;
  const time = new SimTime();
  const random = mulberry32(42);
  const start = time.now();
  const callsByHour = new Array<number>(24).fill(0);
  const assumer = {
    assume: async (request: AssumeRequest): Promise<Session> => {
      callsByHour[Math.min(23, Math.floor((time.now() - start) / HOUR))]!++;
      const now = time.now();
      return { accessKeyId: 'ASIA', secretAccessKey: 's', sessionToken: 't', expiration: now + request.durationSeconds * 1000, issuedAt: now, assumedRoleArn: request.roleArn };
    },
  };
  const cache = createSessionCache({
    assumer,
    clock: time,
    scheduler: time,
    random,
    nodeName: NODE,
    sessionDurationMs: shape.sessionDurationMs ?? config.sessionDurationMs,
    refreshBeforeMs: config.refreshBeforeMs,
    minRemainingMs: config.minRemainingMs,
    sessionTags: false,
    metrics: createMetrics(new Registry(), 'bench', { defaultMetrics: false }),
    logger: createLogger('silent'),
  });

  // Like the agent: one key object per pod version; pods that appear are prefetched; keys no pod uses are dropped.
  const live = new Map<number, SessionKey>();
  const keys = new Set<string>();
  let requests = 0;
  let podStarts = 0;
  const slots = Array.from({ length: shape.pods }, () => {
    // Namespace first, then role: the draws of the days written down before web-identity was modelled.
    const namespace = `ns-${Math.floor(random() * shape.namespaces)}`;
    const role = Math.floor(random() * shape.roles);
    return {
      namespace,
      roleArn: `${BASE_ROLE_ARN}role-${role}`,
      ...(webIdentity ? { serviceAccount: `sa-${role}` } : {}),
    };
  });
  for (const slot of slots) keys.add(`${slot.roleArn} ${slot.namespace}`);

  const startPod = (slot: number) => {
    // Pod scope: each pod (a new uid per start) has its own session, as the resolver keys it.
    const key: SessionKey = { ...slots[slot]!, ...(sessionScope === 'pod' ? { pod: { uid: `uid-${podStarts}`, name: `pod-${slot}-${podStarts}` } } : {}) };
    live.set(slot, key);
    podStarts++;
    cache.prefetch(key);
    cache.retain([...live.values()]);
    const ask = () => {
      if (live.get(slot) !== key) return;
      requests++;
      if (cache.peek(key) === undefined) cache.get(key).catch(() => undefined);
      time.schedule(shape.requestEveryMs, ask);
    };
    // The first request comes a little after the pod starts (container start-up).
    time.schedule(1000 + random() * 4000, ask);
    const lifetime = -Math.log(1 - random()) * shape.meanPodLifetimeMs;
    time.schedule(lifetime, () => {
      live.delete(slot);
      cache.retain([...live.values()]);
      time.schedule(shape.restartGapMs, () => startPod(slot));
    });
  };
  for (let slot = 0; slot < shape.pods; slot++) time.schedule(random() * 60_000, () => startPod(slot));
  await time.runUntil(start + DAY);
  cache.close();

  const steady = callsByHour.slice(2);
  const steadyMean = steady.reduce((a, b) => a + b, 0) / steady.length;
  // Pod scope: one session per live pod, and every slot always has a pod but for the restart gap.
  const sessionKeys = sessionScope === 'pod' ? shape.pods : keys.size;
  return {
    shape,
    sessionScope,
    sessionKeys,
    requestsPerHour: requests / 24,
    stsCallsPerHour: {
      mean: callsByHour.reduce((a, b) => a + b, 0) / 24,
      firstHour: callsByHour[0]!,
      maxHour: Math.max(...callsByHour),
      minHour: Math.min(...callsByHour),
    },
    callsPerKeyHour: steadyMean / sessionKeys,
    podStarts,
  };
}

/** A cluster of `nodes` such nodes: what STS sees, per second, next to its quota. */
export interface ClusterStsRate {
  nodes: number;
  day: StsDayResult;
  /** Calls per second: the day's mean, its busiest hour, and its first hour (every pod starting). */
  meanPerSecond: number;
  maxHourPerSecond: number;
  firstHourPerSecond: number;
  /** The busiest hour as a share of the quota (1 = all of it). */
  quotaShare: number;
}

/**
 * STS's default request quota, per account and Region, shared by AssumeRole,
 * AssumeRoleWithWebIdentity and STS's other calls: 600 requests per second (AWS's "IAM and AWS STS
 * quotas" page; adjustable in Service Quotas). BENCH_STS_QUOTA_RPS sets another.
 */
export const STS_QUOTA_RPS = Number(process.env.BENCH_STS_QUOTA_RPS ?? 600);

/** Nodes are independent: each agent assumes its own sessions (the RoleSessionName names the node). */
export function clusterStsRate(day: StsDayResult, nodes: number): ClusterStsRate {
  const perSecond = (perNodeHour: number) => (perNodeHour * nodes) / 3600;
  const maxHourPerSecond = perSecond(day.stsCallsPerHour.maxHour);
  return {
    nodes,
    day,
    meanPerSecond: perSecond(day.stsCallsPerHour.mean),
    maxHourPerSecond,
    firstHourPerSecond: perSecond(day.stsCallsPerHour.firstHour),
    quotaShare: maxHourPerSecond / STS_QUOTA_RPS,
  };
}

/** The same day (same seed, same pods) in namespace and in pod scope. */
export async function simulateStsDayByScope(shape: Omit<StsDayShape, 'sessionScope'>): Promise<StsDayByScope> {
  return {
    namespace: await simulateStsDay({ ...shape, sessionScope: 'namespace' }),
    pod: await simulateStsDay({ ...shape, sessionScope: 'pod' }),
  };
}

/** The bench's shape (bench/run.ts): 250 pods on a node sharing 20 roles in 25 namespaces, 4 h mean pod life. */
export const BENCH_STS_DAY: Omit<StsDayShape, 'sessionScope'> = {
  pods: 250,
  roles: 20,
  namespaces: 25,
  meanPodLifetimeMs: 4 * HOUR,
  restartGapMs: 30_000,
  requestEveryMs: 5 * 60_000,
};

/** Pods that share more: 250 pods, 5 namespaces, 3 roles (a few big deployments per node). */
export const SHARED_STS_DAY: Omit<StsDayShape, 'sessionScope'> = { ...BENCH_STS_DAY, roles: 3, namespaces: 5 };

// `node dist/bench/sts-day.js`: only the simulated days, in both scopes (a few seconds each).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const days = [];
  for (const shape of [BENCH_STS_DAY, SHARED_STS_DAY]) days.push(await simulateStsDayByScope(shape));
  for (const day of days.flatMap((byScope) => [byScope.namespace, byScope.pod])) {
    const c = day.stsCallsPerHour;
    process.stdout.write(
      `session-scope=${day.sessionScope}: ${day.shape.pods} pods, ${day.shape.roles} roles, ${day.shape.namespaces} ns = ${day.sessionKeys} sessions: ` +
        `${c.mean.toFixed(1)} AssumeRole/h mean (first hour ${c.firstHour}, max ${c.maxHour}, min ${c.minHour}); ${day.callsPerKeyHour.toFixed(2)}/session/h; ` +
        `${Math.round(day.requestsPerHour)} requests/h, ${day.podStarts} pod starts\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(days.map((d) => ({ shape: { ...d.namespace.shape, sessionScope: undefined }, namespace: d.namespace.stsCallsPerHour, pod: d.pod.stsCallsPerHour })))}\n`);

  // The cluster: CLUSTER_NODES nodes of the bench's shape, with the defaults, and the two levers.
  const nodes = Number(process.env.BENCH_CLUSTER_NODES ?? 5000);
  const variants: Array<{ name: string; day: StsDayResult }> = [
    { name: 'node-role, AssumeRole, namespace scope (defaults)', day: days[0]!.namespace },
    { name: 'node-role, AssumeRole, pod scope', day: days[0]!.pod },
    { name: 'web-identity, AssumeRoleWithWebIdentity, namespace scope (defaults)', day: await simulateStsDay({ ...BENCH_STS_DAY, credentialMode: 'web-identity' }) },
    { name: 'web-identity, --session-duration 12h', day: await simulateStsDay({ ...BENCH_STS_DAY, credentialMode: 'web-identity', sessionDurationMs: 12 * HOUR }) },
    { name: 'node-role, pods sharing more (3 roles, 5 namespaces)', day: days[1]!.namespace },
  ];
  process.stdout.write(`\n${nodes.toLocaleString('en-US')} nodes of ${BENCH_STS_DAY.pods} pods each; STS quota ${STS_QUOTA_RPS} requests/s per account and Region:\n`);
  for (const { name, day } of variants) {
    const rate = clusterStsRate(day, nodes);
    process.stdout.write(
      `  ${name}: ${rate.meanPerSecond.toFixed(0)} calls/s mean, ${rate.maxHourPerSecond.toFixed(0)}/s in the busiest hour ` +
        `(${(rate.quotaShare * 100).toFixed(0)}% of the quota), ${rate.firstHourPerSecond.toFixed(0)}/s in the first hour\n`,
    );
  }
}
