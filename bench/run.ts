import os from 'node:os';
import { startFakeSts } from '../demo/index.js';
import { version } from '../src/version.js';
import { agentArgs, CREDENTIALS_PATH, hotPathObjects, HOT_POD_IP, HOT_ROLE, RATE_POD_IPS, startCluster } from './cluster.js';
import { measureFirstCredential } from './first-credential.js';
import { imageRuntime } from './image.js';
import { fixedRate, get, median, saturate, spread, type Spread } from './load.js';
import { measureLookupCost } from './lookup-cost.js';
import { until, waitForSessions } from './probe.js';
import { measureScale } from './scale.js';
import { ServerProcess } from './servers.js';
import { simulateStsDay } from './sts-day.js';
import { measureKube2iamScale, startKube2iam, type Kube2iam, type Kube2iamScale } from './kube2iam.js';
import { CONNECTIONS, env, FIXED_RATE, FIXED_SECONDS, SATURATION_SECONDS, SCALE, STS_LATENCY_MS, WARMUP_SECONDS } from './knobs.js';

/**
 * `npm run bench`: every number of docs/performance.md's first section, on this machine, in
 * one run. Servers run in child processes; the load generator shares the machine's cores with
 * them, as it would with the pods on a node. Prints a table, then one JSON line.
 */

/** Interleaved rounds, saturated and at the fixed rate: every server once per round, the order turning. */
const ROUNDS = Math.max(1, env('BENCH_ROUNDS', 5));
/** One fixed-rate round per server; the scale part runs its load this long (BENCH_RATE_SECONDS). */
const FIXED_ROUND_SECONDS = env('BENCH_RATE_ROUND_SECONDS', 4);
/** 0: skip the saturated rounds of the agent with Node's default V8 settings. */
const FLAG_COMPARISON = env('BENCH_FLAG_COMPARISON', 1) !== 0;
/** Above this 1-minute load average at start, or this spread between rounds, the run warns. */
const BUSY_LOADAVG = 1.5;
const NOISY_SPREAD = 0.2;
const TARGET_RATIO = 0.85;
const TARGET_P99_ABOVE_BARE_MS = 0.5;
const FIRST_SAMPLES = env('BENCH_FIRST_SAMPLES', 20);
/** Scheduled (ADDED) to IP (MODIFIED): the CNI takes 1-3 s on a real node. */
const CNI_DELAY_MS = env('BENCH_CNI_DELAY_MS', 1000);
// The image starts the agent with V8 settings chosen for memory (Dockerfile ENTRYPOINT: a 2 MB
// semi-space; see npm run bench:memory). The bench runs the agent, and the bare
// node:http server it is compared with, with the image's flags (like with like: a small
// semi-space costs a server that allocates per request more than one that does not), and once
// more the agent with Node's defaults.
const IMAGE = imageRuntime();
const AGENT_NODE_OPTIONS = IMAGE.nodeFlags;
const LEAN_NODE_OPTIONS: readonly string[] = [];

interface Target {
  name: string;
  url: string;
  path: string;
  /** Our own child processes report their CPU time. */
  process?: ServerProcess;
  /** Saturated rounds only (a comparison, not a target). */
  saturatedOnly?: boolean;
}

const MB = 1024 * 1024;

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function main(): Promise<void> {
  const began = performance.now();
  const loadavgAtStart = os.loadavg()[0]!;
  if (loadavgAtStart > BUSY_LOADAVG) log(`WARNING: load average ${loadavgAtStart.toFixed(2)} at start: the machine is busy, the numbers will be low and noisy`);
  const sts = await startFakeSts({ latencyMs: STS_LATENCY_MS });
  const cluster = await startCluster(hotPathObjects());
  const servers: ServerProcess[] = [];
  let kube2iam: Kube2iam | undefined;
  try {
    // ---- cached credential path ----
    const flags = AGENT_NODE_OPTIONS.join(' ') || '(none)';
    log(`starting the agent and a bare node:http server, both with the image's Node flags: ${flags}`);
    const agent = await ServerProcess.start({ type: 'start-agent', args: agentArgs(cluster.kubeconfig, sts.url), stsEndpoint: sts.url }, AGENT_NODE_OPTIONS);
    servers.push(agent);
    await waitForSessions(agent.adminUrl!, 1, 30_000);
    const docPath = CREDENTIALS_PATH + HOT_ROLE;
    const sample = await until('the credential document', async () => {
      const answer = await get(agent.url, docPath, HOT_POD_IP);
      return answer.status === 200 ? answer : undefined;
    }, 10_000);
    const bare = await ServerProcess.start({ type: 'start-bare', body: sample.body, contentType: String(sample.headers['content-type']) }, AGENT_NODE_OPTIONS);
    servers.push(bare);

    const targets: Target[] = [
      { name: 'bare', url: bare.url, path: docPath, process: bare },
      { name: 'corridor', url: agent.url, path: docPath, process: agent },
    ];
    let defaultsAgent: ServerProcess | undefined;
    if (FLAG_COMPARISON) {
      defaultsAgent = await ServerProcess.start({ type: 'start-agent', args: agentArgs(cluster.kubeconfig, sts.url), stsEndpoint: sts.url }, LEAN_NODE_OPTIONS);
      servers.push(defaultsAgent);
      await waitForSessions(defaultsAgent.adminUrl!, 1, 30_000);
      targets.push({ name: 'corridor-node-defaults', url: defaultsAgent.url, path: docPath, process: defaultsAgent, saturatedOnly: true });
    }
    kube2iam = await startKube2iam({ kube: cluster.kube, stsUrl: sts.url, defaultRole: HOT_ROLE, probe: { podIp: HOT_POD_IP, role: HOT_ROLE }, log });
    if (kube2iam.url) targets.push({ name: 'kube2iam', url: kube2iam.url, path: docPath });

    log(`saturation: ${CONNECTIONS} connections, ${WARMUP_SECONDS}s warm-up each, then ${ROUNDS} interleaved rounds of ${SATURATION_SECONDS}s per server`);
    for (const target of targets) await saturate(target.url, target.path, WARMUP_SECONDS, CONNECTIONS);
    const rounds = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const cpuPerRequest = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const failures = new Map<string, number>(targets.map((t) => [t.name, 0]));
    for (let round = 0; round < ROUNDS; round++) {
      // The order turns each round, so that no server always follows the same one.
      for (const target of turned(targets, round)) {
        const before = await target.process?.stats();
        const result = await saturate(target.url, target.path, SATURATION_SECONDS, CONNECTIONS);
        const after = await target.process?.stats();
        rounds.get(target.name)!.push(result.rps);
        const cpu = before && after && result.ok > 0 ? (after.cpuMicros - before.cpuMicros) / result.ok : undefined;
        if (cpu !== undefined) cpuPerRequest.get(target.name)!.push(cpu);
        failures.set(target.name, failures.get(target.name)! + result.non2xx + result.errors);
        log(`  round ${round + 1} ${target.name}: ${Math.round(result.rps)} req/s${cpu !== undefined ? `, ${cpu.toFixed(1)} us CPU per answer` : ''}`);
      }
    }
    // The comparison agent is done: it must not watch, prefetch or idle through the rest.
    if (defaultsAgent) {
      await defaultsAgent.stop();
      servers.splice(servers.indexOf(defaultsAgent), 1);
    }
    const rps = (name: string) => spread(rounds.get(name) ?? []);
    // Server CPU time per answer: less sensitive than req/s to what else runs on the machine.
    const cpuUs = (name: string) => spread(cpuPerRequest.get(name) ?? []);
    // Each round's corridor and bare ran back to back: their ratio cancels most slow drift.
    const paired = (name: string, series: Map<string, number[]>, of: (a: number, b: number) => number) =>
      spread(series.get(name)!.map((value, i) => of(value, series.get('bare')![i]!)));

    log(`fixed rate: ${FIXED_RATE} req/s from ${RATE_POD_IPS.length} pods, ${ROUNDS} interleaved rounds of ${FIXED_ROUND_SECONDS}s per server`);
    const fixedTargets = targets.filter((t) => !t.saturatedOnly);
    const p50s = new Map<string, number[]>(fixedTargets.map((t) => [t.name, []]));
    const p99s = new Map<string, number[]>(fixedTargets.map((t) => [t.name, []]));
    const maxes = new Map<string, number[]>(fixedTargets.map((t) => [t.name, []]));
    const fixedFailed = new Map<string, number>(fixedTargets.map((t) => [t.name, 0]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of turned(fixedTargets, round)) {
        const result = await fixedRate({
          url: target.url,
          path: target.path,
          rate: FIXED_RATE,
          warmupMs: 1000,
          durationMs: FIXED_ROUND_SECONDS * 1000,
          // kube2iam knows only the pod it was given; it answers from 127.0.0.1.
          sources: target.name === 'kube2iam' ? [HOT_POD_IP] : RATE_POD_IPS,
          socketsPerSource: target.name === 'kube2iam' ? 8 : 1,
        });
        p50s.get(target.name)!.push(result.p50);
        p99s.get(target.name)!.push(result.p99);
        maxes.get(target.name)!.push(result.max);
        fixedFailed.set(target.name, fixedFailed.get(target.name)! + result.failed);
        log(`  round ${round + 1} ${target.name}: p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms, ${result.failed} failed`);
      }
    }
    const loadavgAfterLoad = os.loadavg()[0]!;

    const smallNode = await agent.stats();
    const kube2iamSmallRssMb = kube2iam.rssMb();

    // ---- time to first credential ----
    log(`time to first credential: ${FIRST_SAMPLES} pods per case, STS latency ${STS_LATENCY_MS} ms`);
    const first = await measureFirstCredential(cluster.kube, { url: agent.url }, FIRST_SAMPLES, CNI_DELAY_MS);

    await kube2iam.stop();
    for (const server of servers.splice(0)) await server.stop();

    // ---- scale ----
    log(`scale: ${SCALE.pods} pods on the node, ${SCALE.namespaces} namespaces, ${SCALE.roles} roles`);
    const scale = await measureScale(SCALE, sts, FIXED_RATE, FIXED_SECONDS * 1000, AGENT_NODE_OPTIONS);
    log('scale again with Node\'s default V8 heap settings');
    const lean = await measureScale(SCALE, sts, FIXED_RATE, FIXED_SECONDS * 1000, LEAN_NODE_OPTIONS);
    const lookup = await measureLookupCost(SCALE);
    let k2iScale: Kube2iamScale | undefined;
    if (kube2iam.url) {
      log(`kube2iam at scale: ${SCALE.pods} pods on the node, ${SCALE.namespaces} namespaces`);
      k2iScale = await measureKube2iamScale(SCALE, sts, FIXED_RATE, FIXED_SECONDS * 1000, log);
    }

    // ---- STS calls over a simulated day ----
    log('STS calls: a simulated day');
    const day = await simulateStsDay({
      pods: SCALE.pods,
      roles: 20,
      namespaces: 25,
      meanPodLifetimeMs: 4 * 3_600_000,
      restartGapMs: 30_000,
      requestEveryMs: 5 * 60_000,
    });
    const podDay = await simulateStsDay({ ...day.shape, sessionScope: 'pod' });

    const k2iRps = kube2iam.url ? rps('kube2iam').median : undefined;
    const ratio = paired('corridor', rounds, (a, b) => a / b);
    const p99Above = paired('corridor', p99s, (a, b) => a - b);
    const cached = {
      nodeFlags: AGENT_NODE_OPTIONS.join(' '),
      connections: CONNECTIONS,
      rounds: ROUNDS,
      seconds: SATURATION_SECONDS,
      corridorRps: rounded(rps('corridor'), 0),
      bareNodeRps: rounded(rps('bare'), 0),
      ratioToBare: rounded(ratio, 3),
      corridorCpuUsPerRequest: rounded(cpuUs('corridor'), 1),
      bareCpuUsPerRequest: rounded(cpuUs('bare'), 1),
      cpuRatioBareToCorridor: round(cpuUs('bare').median / cpuUs('corridor').median, 3),
      ...(FLAG_COMPARISON
        ? {
            nodeDefaultsRps: rounded(rps('corridor-node-defaults'), 0),
            nodeDefaultsRatioToBare: rounded(paired('corridor-node-defaults', rounds, (a, b) => a / b), 3),
            nodeDefaultsCpuUsPerRequest: rounded(cpuUs('corridor-node-defaults'), 1),
          }
        : {}),
      failures: Object.fromEntries(failures),
      fixedRate: FIXED_RATE,
      fixedRoundSeconds: FIXED_ROUND_SECONDS,
      p50Ms: rounded(spread(p50s.get('corridor')!), 3),
      p99Ms: rounded(spread(p99s.get('corridor')!), 3),
      maxMs: round(Math.max(...maxes.get('corridor')!), 3),
      bareP50Ms: rounded(spread(p50s.get('bare')!), 3),
      bareP99Ms: rounded(spread(p99s.get('bare')!), 3),
      p99AboveBareMs: rounded(p99Above, 3),
      fixedFailed: Object.fromEntries(fixedFailed),
    };
    const warnings = [
      ...(loadavgAtStart > BUSY_LOADAVG ? [`the machine was busy: load average ${loadavgAtStart.toFixed(2)} at start (over ${BUSY_LOADAVG}; ${loadavgAfterLoad.toFixed(2)} after the load rounds, which add their own); every number below is low and noisy`] : []),
      ...noisy('saturated req/s, corridor', rps('corridor')),
      ...noisy('saturated req/s, bare node:http', rps('bare')),
      ...noisy('ratio corridor/bare', ratio),
      ...noisy('CPU per answer, corridor', cpuUs('corridor')),
      ...(major(process.version) !== IMAGE.nodeMajor ? [`node ${process.version} is not the image's Node ${IMAGE.nodeMajor}: run with PATH="$(dirname "$(bash scripts/install-node24.sh)"):$PATH" to measure as the image runs`] : []),
    ];
    const result = {
      bench: 'corridor',
      version: version(),
      node: process.version,
      imageNode: IMAGE.nodeMajor,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      loadavgAtStart: round(loadavgAtStart, 2),
      loadavgAfterLoad: round(loadavgAfterLoad, 2),
      warnings,
      targets: {
        ratioToBare: TARGET_RATIO,
        p99AboveBareMs: TARGET_P99_ABOVE_BARE_MS,
        ratioMet: ratio.median >= TARGET_RATIO,
        p99Met: p99Above.median <= TARGET_P99_ABOVE_BARE_MS,
      },
      cachedPath: cached,
      kube2iam: {
        status: kube2iam.status,
        ...(k2iRps !== undefined
          ? {
              rps: rounded(rps('kube2iam'), 0),
              corridorToKube2iam: round(rps('corridor').median / k2iRps, 3),
              // Each round's corridor and kube2iam ran close together: the paired ratio cancels some drift.
              corridorToKube2iamPaired: rounded(spread(rounds.get('corridor')!.map((value, i) => value / rounds.get('kube2iam')![i]!)), 3),
              p50Ms: round(median(p50s.get('kube2iam')!), 3),
              p99Ms: rounded(spread(p99s.get('kube2iam')!), 3),
              fixedFailed: fixedFailed.get('kube2iam'),
              ...(kube2iamSmallRssMb !== undefined ? { rssSmallNodeMb: round(kube2iamSmallRssMb, 1) } : {}),
            }
          : {}),
        ...(k2iScale
          ? {
              scale: {
                status: k2iScale.status,
                roles: k2iScale.roles,
                ...(k2iScale.readySeconds !== undefined ? { readySeconds: round(k2iScale.readySeconds, 2) } : {}),
                ...(k2iScale.rssIdleMb !== undefined ? { rssIdleMb: round(k2iScale.rssIdleMb, 1) } : {}),
                ...(k2iScale.rssAfterLoadMb !== undefined ? { rssAfterLoadMb: round(k2iScale.rssAfterLoadMb, 1) } : {}),
                ...(k2iScale.load ? { loadP99Ms: round(k2iScale.load.p99, 3), loadFailed: k2iScale.load.failed } : {}),
              },
            }
          : {}),
      },
      firstCredential: {
        stsLatencyMs: STS_LATENCY_MS,
        samples: first.samples,
        cniDelayMs: first.cniDelayMs,
        prefetchFromIpP50Ms: round(first.prefetchMs.p50, 1),
        prefetchFromIpMaxMs: round(first.prefetchMs.max, 1),
        coldP50Ms: round(first.coldMs.p50, 1),
        coldMaxMs: round(first.coldMs.max, 1),
        sharedSessionP50Ms: round(first.sharedMs.p50, 1),
        sharedSessionMaxMs: round(first.sharedMs.max, 1),
      },
      scale: {
        ...SCALE,
        sessions: scale.sessions,
        readySeconds: round(scale.warmupSeconds, 2),
        rssIdleMb: round(scale.rssIdleMb, 1),
        rssAfterLoadMb: round(scale.rssAfterLoadMb, 1),
        rssSmallNodeMb: round(smallNode.rss / MB, 1),
        leanNodeOptions: LEAN_NODE_OPTIONS.join(' ') || '(node defaults)',
        leanRssIdleMb: round(lean.rssIdleMb, 1),
        leanRssAfterLoadMb: round(lean.rssAfterLoadMb, 1),
        leanCpuMicrosPerRequest: round(lean.load.cpuMicrosPerRequest, 1),
        leanLoadP99Ms: round(lean.load.p99, 3),
        cpuIdlePercent: round(scale.cpuIdle * 100, 2),
        loadRate: scale.load.rate,
        loadCpuPercent: round(scale.load.cpu * 100, 1),
        cpuMicrosPerRequest: round(scale.load.cpuMicrosPerRequest, 1),
        loadP50Ms: round(scale.load.p50, 3),
        loadP99Ms: round(scale.load.p99, 3),
        loadFailed: scale.load.failed,
        lookupAndDecisionNs: round(lookup.lookupNs, 0),
        decisionUncachedNs: round(lookup.decideNs, 0),
        sessionPeekNs: round(lookup.peekNs, 0),
      },
      stsDay: {
        pods: day.shape.pods,
        roles: day.shape.roles,
        namespaces: day.shape.namespaces,
        sessionKeys: day.sessionKeys,
        podStarts: day.podStarts,
        requestsPerHour: Math.round(day.requestsPerHour),
        stsCallsPerHourMean: round(day.stsCallsPerHour.mean, 1),
        stsCallsFirstHour: day.stsCallsPerHour.firstHour,
        stsCallsPerHourMax: day.stsCallsPerHour.maxHour,
        stsCallsPerHourMin: day.stsCallsPerHour.minHour,
        stsCallsPerKeyHour: round(day.callsPerKeyHour, 2),
        podScopeSessions: podDay.sessionKeys,
        podScopeStsCallsPerHourMean: round(podDay.stsCallsPerHour.mean, 1),
        podScopeStsCallsPerHourMax: podDay.stsCallsPerHour.maxHour,
      },
      seconds: round((performance.now() - began) / 1000, 1),
    };
    printTable(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await kube2iam?.stop();
    for (const server of servers) await server.stop();
    await cluster.close();
    await sts.close();
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

interface Rounded {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, as a percentage. */
  spreadPercent: number;
  rounds: number[];
}

function rounded(s: Spread, digits: number): Rounded {
  return { median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits), spreadPercent: round(s.spread * 100, 1), rounds: s.rounds.map((v) => round(v, digits)) };
}

function noisy(what: string, s: Spread): string[] {
  return s.spread > NOISY_SPREAD ? [`${what}: the rounds spread over ${(s.spread * 100).toFixed(0)}% of the median (${s.min.toFixed(1)}..${s.max.toFixed(1)}); more than ${NOISY_SPREAD * 100}% means noise, not corridor`] : [];
}

function turned<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function major(version: string): number {
  return Number(/^v?(\d+)/.exec(version)?.[1]);
}

type Result = {
  cachedPath: {
    nodeFlags: string; rounds: number; seconds: number; fixedRate: number; fixedRoundSeconds: number;
    corridorRps: Rounded; bareNodeRps: Rounded; ratioToBare: Rounded; corridorCpuUsPerRequest: Rounded; bareCpuUsPerRequest: Rounded; cpuRatioBareToCorridor: number;
    nodeDefaultsRps?: Rounded; nodeDefaultsRatioToBare?: Rounded; nodeDefaultsCpuUsPerRequest?: Rounded;
    p50Ms: Rounded; p99Ms: Rounded; bareP50Ms: Rounded; bareP99Ms: Rounded; p99AboveBareMs: Rounded;
  };
  targets: { ratioToBare: number; p99AboveBareMs: number; ratioMet: boolean; p99Met: boolean };
  warnings: string[];
  kube2iam: {
    status: string; rps?: Rounded; corridorToKube2iam?: number; corridorToKube2iamPaired?: Rounded; p50Ms?: number; p99Ms?: Rounded; fixedFailed?: number; rssSmallNodeMb?: number;
    scale?: { status: string; roles: number; readySeconds?: number; rssIdleMb?: number; rssAfterLoadMb?: number; loadP99Ms?: number; loadFailed?: number };
  };
  firstCredential: Record<string, number>;
  scale: Record<string, number | string>;
  stsDay: Record<string, number>;
  cpus: number;
  node: string;
  loadavgAtStart: number;
  loadavgAfterLoad: number;
  seconds: number;
};

/** "35810 (34100..36900, 8.0%)": the median, the range of the rounds and their spread. */
function med(r: Rounded, unit = ''): string {
  return `${r.median}${unit} (${r.min}..${r.max}, ${r.spreadPercent}%)`;
}

function kube2iamRows(r: Result): Array<[string, string, string]> {
  const k = r.kube2iam;
  const c = r.cachedPath;
  if (k.rps === undefined || k.p99Ms === undefined || k.corridorToKube2iamPaired === undefined) return [['kube2iam, same load', k.status, '']];
  const at = k.scale;
  return [
    [`kube2iam, saturated, same client (${k.status})`, `${med(k.rps)} req/s; corridor/kube2iam ${k.corridorToKube2iam} (paired per round ${med(k.corridorToKube2iamPaired)})`, '>= 1.5'],
    [`kube2iam at ${c.fixedRate} req/s (one pod, 8 sockets)`, `p50 ${k.p50Ms}, p99 ${med(k.p99Ms, ' ms')} (corridor p99 ${c.p99Ms.median} ms); ${k.fixedFailed ?? 0} failed`, 'corridor p99 no worse'],
    ['kube2iam RSS with 9 pods, after the load rounds', `${k.rssSmallNodeMb ?? '?'} MB (corridor ${r.scale.rssSmallNodeMb} MB)`, ''],
    [
      `kube2iam at scale: ${r.scale.pods} pods, ${r.scale.namespaces} ns`,
      at?.rssIdleMb !== undefined
        ? `RSS ${at.rssIdleMb} MB idle, ${at.rssAfterLoadMb ?? '?'} MB after load (p99 ${at.loadP99Ms} ms, ${at.loadFailed} failed; ${at.roles} roles); corridor ${r.scale.rssIdleMb} / ${r.scale.rssAfterLoadMb} MB`
        : `not measured: ${at?.status ?? 'skipped'}`,
      'corridor RSS <= 2x',
    ],
  ];
}

function printTable(r: Result): void {
  const c = r.cachedPath;
  const f = r.firstCredential;
  const s = r.scale;
  const d = r.stsDay;
  const mark = (met: boolean) => (met ? 'met' : 'NOT met');
  const rows: Array<[string, string, string]> = [
    [`cached path, saturated (${c.rounds} rounds of ${c.seconds} s; median (min..max, spread))`, `corridor ${med(c.corridorRps)} req/s, bare node:http ${med(c.bareNodeRps)}`, ''],
    ['  ratio corridor/bare, paired per round', med(c.ratioToBare), `>= ${r.targets.ratioToBare}: ${mark(r.targets.ratioMet)}`],
    ['  server CPU per answer', `corridor ${med(c.corridorCpuUsPerRequest, ' us')}, bare ${med(c.bareCpuUsPerRequest, ' us')}: bare/corridor ${c.cpuRatioBareToCorridor}`, ''],
    ...(c.nodeDefaultsRps && c.nodeDefaultsRatioToBare && c.nodeDefaultsCpuUsPerRequest
      ? [['  corridor with Node defaults (no image flags)', `${med(c.nodeDefaultsRps)} req/s, ratio to bare ${med(c.nodeDefaultsRatioToBare)}; ${med(c.nodeDefaultsCpuUsPerRequest, ' us')} CPU/answer`, ''] as [string, string, string]]
      : []),
    [`cached path at ${c.fixedRate} req/s (${c.rounds} rounds of ${c.fixedRoundSeconds} s)`, `corridor p50 ${c.p50Ms.median}, p99 ${med(c.p99Ms, ' ms')}; bare p50 ${c.bareP50Ms.median}, p99 ${med(c.bareP99Ms, ' ms')}`, ''],
    ['  corridor p99 minus bare p99, paired per round', med(c.p99AboveBareMs, ' ms'), `<= ${r.targets.p99AboveBareMs} ms: ${mark(r.targets.p99Met)}`],
    ...kube2iamRows(r),
    [`first credential, prefetch (ADDED, IP ${f.cniDelayMs} ms later; STS ${f.stsLatencyMs} ms)`, `p50 ${f.prefetchFromIpP50Ms} ms, max ${f.prefetchFromIpMaxMs} ms from the IP event`, '<= 50 ms'],
    ['first credential, cold (asks at once)', `p50 ${f.coldP50Ms} ms, max ${f.coldMaxMs} ms`, ''],
    ['first credential, session already cached', `p50 ${f.sharedSessionP50Ms} ms, max ${f.sharedSessionMaxMs} ms`, ''],
    [`scale: ${s.pods} pods, ${s.namespaces} ns, ${s.roles} roles`, `RSS ${s.rssIdleMb} MB idle, ${s.rssAfterLoadMb} MB after load; ready in ${s.readySeconds} s (${s.sessions} sessions)`, 'RSS <= 100 MB'],
    ['scale: memory with 9 pods (after the load rounds); and with node defaults', `RSS ${s.rssSmallNodeMb} MB with 9 pods; at scale with ${r.scale.leanNodeOptions}: ${s.leanRssIdleMb} MB idle, ${s.leanRssAfterLoadMb} MB after load, ${s.leanCpuMicrosPerRequest} us/request`, ''],
    ['scale: CPU', `idle ${s.cpuIdlePercent}% of a core; ${s.loadCpuPercent}% at ${s.loadRate} req/s = ${s.cpuMicrosPerRequest} us/request (p99 ${s.loadP99Ms} ms)`, ''],
    ['scale: per-request state cost', `lookup+decision ${s.lookupAndDecisionNs} ns, session peek ${s.sessionPeekNs} ns; decision from scratch ${s.decisionUncachedNs} ns`, ''],
    [`STS calls, simulated day`, `${d.pods} pods, ${d.roles} roles, ${d.namespaces} ns = ${d.sessionKeys} sessions: ${d.stsCallsPerHourMean}/h mean (first hour ${d.stsCallsFirstHour}, max ${d.stsCallsPerHourMax}); ${d.stsCallsPerKeyHour}/session/h; ${d.requestsPerHour} requests/h`, ''],
    ['STS calls, the same day with --session-scope=pod', `${d.podScopeSessions} sessions: ${d.podScopeStsCallsPerHourMean}/h mean (max ${d.podScopeStsCallsPerHourMax})`, ''],
  ];
  const w0 = Math.max(...rows.map((row) => row[0].length));
  const w1 = Math.max(...rows.map((row) => row[1].length));
  const line = (a: string, b: string, t: string) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${t}`;
  const out = [
    `corridor bench: node ${r.node}, ${r.cpus} CPUs, load average ${r.loadavgAtStart.toFixed(2)} at start (${r.loadavgAfterLoad.toFixed(2)} after the load rounds), ${r.seconds} s; servers' Node flags as the image: ${c.nodeFlags || '(none)'}`,
    ...r.warnings.map((w) => `WARNING: ${w}`),
    line('measure', 'result', 'target'),
    line('-'.repeat(w0), '-'.repeat(w1), '------'),
    ...rows.map(([a, b, t]) => line(a, b, t)),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
