import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeNamespace, makePod, startFakeSts, type FakeSts } from '../demo/index.js';
import { AgentProcess } from './agent-process.js';
import { agentArgs, CREDENTIALS_PATH, hotPathObjects, HOT_POD_IP, HOT_ROLE, NODE, RATE_POD_IPS, scaleObjects, startCluster, type BenchCluster, type ScalePod } from './cluster.js';
import { summariseHeapSnapshot, type HeapSummary } from './heap-snapshot.js';
import { imageRuntime } from './image.js';
import { measureKube2iamScale } from './kube2iam.js';
import { CONNECTIONS, env, FIXED_RATE, FIXED_SECONDS, SATURATION_SECONDS, SCALE, STS_LATENCY_MS, WARMUP_SECONDS } from './knobs.js';
import { fixedRate, get, median, saturate, spread, type Spread } from './load.js';
import { metricValue, until, waitForSessions } from './probe.js';
import { f1, sp, table } from './table.js';

/**
 * `npm run bench:memory`: where the agent's memory goes and what the V8/allocator settings trade.
 * - Import cost: each dependency, and the agent's own modules, imported in a fresh Node process
 *   with the image's flags (alone, and cumulatively in the order the agent loads them).
 * - At scale (BENCH_PODS pods on the node, BENCH_NAMESPACES namespaces, BENCH_ROLES roles), per
 *   setting: `corridor agent` from the built CLI, as the image runs it, all settings side by side:
 *   RSS idle, after 10 s at 2,000 req/s (BENCH_RATE, BENCH_RATE_SECONDS), the heap, then
 *   saturated req/s and CPU per answer in interleaved rounds (BENCH_MEMORY_ROUNDS).
 * - The same settings on a small node (9 pods), after saturated and fixed-rate load.
 * - BENCH_HEAP_SNAPSHOT=1: a heap snapshot of the image's setting at scale, after the load,
 *   summarised by what holds the heap.
 * BENCH_MEMORY_SETTINGS=name,name picks settings (see SETTINGS), BENCH_MEMORY_REPEAT=n runs n agents of each;
 * - With KUBE2IAM_BIN: kube2iam at the same scale (bench/kube2iam.ts): start-up and RSS.
 * BENCH_MEMORY_PARTS=imports,scale,kube2iam,small picks parts.
 */

const RATE = FIXED_RATE;
const RATE_SECONDS = FIXED_SECONDS;
const ROUNDS = Math.max(1, env('BENCH_MEMORY_ROUNDS', 3));
// The image runs the bundle (npm run bundle); `image-unbundled` runs the compiled sources with
// their node_modules, as the image did before, for the side-by-side.
const BUNDLE = fileURLToPath(new URL('../bundle/corridor.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/corridor.js', import.meta.url));
const DIST = fileURLToPath(new URL('../', import.meta.url));
const IMAGE = imageRuntime();
const MB = 1024 * 1024;

interface Setting {
  name: string;
  nodeFlags: readonly string[];
  env: Record<string, string>;
  /** The CLI it runs; default the bundle, as the image does. */
  cli?: string;
}

const OFS = ['--max-semi-space-size=2', '--optimize-for-size'];

/** The image's own setting first; the others vary one thing at a time. */
const SETTINGS: readonly Setting[] = [
  { name: 'image', nodeFlags: IMAGE.nodeFlags, env: IMAGE.env },
  { name: 'image-unbundled', nodeFlags: IMAGE.nodeFlags, env: IMAGE.env, cli: CLI },
  // Other builds' bundles (BENCH_MEMORY_BASELINE=<dir>/bundle/corridor.mjs,..., e.g. main's), for before and after in one run.
  ...(process.env.BENCH_MEMORY_BASELINE ?? '').split(',').filter(Boolean).map((cli) => ({ name: `image-${basename(dirname(dirname(cli)))}`, nodeFlags: IMAGE.nodeFlags, env: IMAGE.env, cli })),
  { name: 'node-defaults', nodeFlags: [], env: { NODE_ENV: 'production' } },
  { name: 'semi-1', nodeFlags: ['--max-semi-space-size=1'], env: { NODE_ENV: 'production' } },
  // The image's flags before bench:memory chose the current ones.
  { name: 'semi-2', nodeFlags: ['--max-semi-space-size=2'], env: { NODE_ENV: 'production' } },
  { name: 'semi-4', nodeFlags: ['--max-semi-space-size=4'], env: { NODE_ENV: 'production' } },
  { name: 'semi-8', nodeFlags: ['--max-semi-space-size=8'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-arena-2', nodeFlags: ['--max-semi-space-size=2'], env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2' } },
  { name: 'semi-2-arena-1', nodeFlags: ['--max-semi-space-size=2'], env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '1' } },
  { name: 'semi-2-optimize-for-size', nodeFlags: ['--max-semi-space-size=2', '--optimize-for-size'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-pool-1', nodeFlags: ['--max-semi-space-size=2', '--v8-pool-size=1'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-lite', nodeFlags: ['--max-semi-space-size=2', '--lite-mode'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-jitless', nodeFlags: ['--max-semi-space-size=2', '--jitless'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-no-opt', nodeFlags: ['--max-semi-space-size=2', '--no-opt'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-no-opt-no-maglev', nodeFlags: ['--max-semi-space-size=2', '--no-opt', '--no-maglev'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-no-sparkplug', nodeFlags: ['--max-semi-space-size=2', '--no-sparkplug'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-single-threaded', nodeFlags: ['--max-semi-space-size=2', '--single-threaded'], env: { NODE_ENV: 'production' } },
  { name: 'semi-2-mmap-64k', nodeFlags: ['--max-semi-space-size=2'], env: { NODE_ENV: 'production', MALLOC_MMAP_THRESHOLD_: '65536' } },
  // --optimize-for-size with the others, one at a time.
  { name: 'ofs', nodeFlags: OFS, env: { NODE_ENV: 'production' } },
  { name: 'ofs-semi-1', nodeFlags: ['--max-semi-space-size=1', '--optimize-for-size'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-arena-2', nodeFlags: OFS, env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2' } },
  { name: 'ofs-mmap-64k', nodeFlags: OFS, env: { NODE_ENV: 'production', MALLOC_MMAP_THRESHOLD_: '65536' } },
  { name: 'ofs-arena-2-mmap-64k', nodeFlags: OFS, env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' } },
  { name: 'ofs-single-threaded', nodeFlags: [...OFS, '--single-threaded'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-no-opt', nodeFlags: [...OFS, '--no-opt'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-no-opt-no-maglev', nodeFlags: [...OFS, '--no-opt', '--no-maglev'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-no-opt-no-maglev-single-threaded', nodeFlags: [...OFS, '--no-opt', '--no-maglev', '--single-threaded'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-no-opt-single-threaded', nodeFlags: [...OFS, '--no-opt', '--single-threaded'], env: { NODE_ENV: 'production' } },
  { name: 'ofs-no-opt-single-threaded-mmap-64k', nodeFlags: [...OFS, '--no-opt', '--single-threaded'], env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' } },
];

function log(line: string): void {
  process.stderr.write(`[bench:memory] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// import cost

interface MemorySample {
  rssMb: number;
  /** Anonymous memory (heaps, malloc) and file-backed pages (the node binary's code and data) of the RSS. */
  anonMb: number;
  fileMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  codeMb: number;
}

/** What a fresh process holds after importing `modules` in order, once its heap has been collected. */
const PROBE = `
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
for (const m of JSON.parse(process.env.PROBE_MODULES)) await import(m);
await new Promise((r) => setTimeout(r, 100));
globalThis.gc();
const status = readFileSync('/proc/self/status', 'utf8');
const kb = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+)').exec(status)[1]) / 1024;
const u = process.memoryUsage();
const code = v8.getHeapSpaceStatistics().filter((s) => s.space_name.startsWith('code')).reduce((n, s) => n + s.space_used_size, 0);
const MB = 1048576;
process.stdout.write(JSON.stringify({ rssMb: kb('VmRSS'), anonMb: kb('RssAnon'), fileMb: kb('RssFile'), heapUsedMb: u.heapUsed / MB, heapTotalMb: u.heapTotal / MB, externalMb: u.external / MB, codeMb: code / MB }));
`;

async function probeImports(modules: readonly string[]): Promise<MemorySample> {
  const samples: MemorySample[] = [];
  // Three fresh processes; the median of each figure.
  for (let i = 0; i < 3; i++) {
    const { stdout } = await promisify(execFile)(process.execPath, [...IMAGE.nodeFlags, '--expose-gc', '--input-type=module', '-e', PROBE], {
      cwd: DIST,
      env: { ...process.env, ...IMAGE.env, PROBE_MODULES: JSON.stringify(modules) },
    });
    samples.push(JSON.parse(stdout) as MemorySample);
  }
  const of = (key: keyof MemorySample) => median(samples.map((s) => s[key]));
  return { rssMb: of('rssMb'), anonMb: of('anonMb'), fileMb: of('fileMb'), heapUsedMb: of('heapUsedMb'), heapTotalMb: of('heapTotalMb'), externalMb: of('externalMb'), codeMb: of('codeMb') };
}

/** In the order `corridor agent` loads them; the agent's own modules last. */
const AGENT_IMPORTS: ReadonlyArray<[string, string]> = [
  ['node:http, node:https, node:crypto (built-ins)', 'node:http node:https node:crypto node:net'],
  ['pino', 'pino'],
  ['prom-client', 'prom-client'],
  ['fastify', 'fastify'],
  ['@aws-sdk/client-sts', '@aws-sdk/client-sts'],
  ['@smithy/node-http-handler', '@smithy/node-http-handler'],
  ['https-proxy-agent', 'https-proxy-agent'],
  ['lru-cache', 'lru-cache'],
  ['yaml', 'yaml'],
  ['the agent (dist/src/cli/agent.js: all of its modules)', './src/cli/agent.js'],
];
/** Dependencies of the package that `corridor agent` does not load, for reference. */
const OTHER_IMPORTS: ReadonlyArray<[string, string]> = [
  ['@aws-sdk/credential-providers', '@aws-sdk/credential-providers'],
  ['@kubernetes/client-node', '@kubernetes/client-node'],
];

interface ImportRow {
  what: string;
  alone: MemorySample;
  /** After this and everything above it (agent order); undefined for the reference rows. */
  cumulative?: MemorySample;
}

async function measureImports(): Promise<{ base: MemorySample; rows: ImportRow[] }> {
  const base = await probeImports([]);
  const rows: ImportRow[] = [];
  const loaded: string[] = [];
  for (const [what, modules] of AGENT_IMPORTS) {
    const list = modules.split(' ');
    loaded.push(...list);
    rows.push({ what, alone: await probeImports(list), cumulative: await probeImports(loaded) });
    log(`  import ${what}: done`);
  }
  for (const [what, modules] of OTHER_IMPORTS) rows.push({ what, alone: await probeImports(modules.split(' ')) });
  return { base, rows };
}

// ---------------------------------------------------------------------------------------------
// the agent at scale, per setting

interface AgentMemory {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  newSpaceMb?: number;
  oldSpaceMb?: number;
  codeMb?: number;
}

function procStatus(pid: number): { rssMb: number; anonMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rssMb: kb('VmRSS'), anonMb: kb('RssAnon'), fileMb: kb('RssFile') + kb('RssShmem') };
}

/** RSS first (the scrape allocates), then the heap from the agent's own Node.js metrics. */
async function agentMemory(agent: AgentProcess): Promise<AgentMemory> {
  const rss = procStatus(agent.pid);
  const metric = async (name: string) => {
    const value = await metricValue(agent.adminUrl, name);
    return value === undefined ? undefined : value / MB;
  };
  const space = async (name: string) => {
    const { body } = await get(agent.adminUrl, '/metrics');
    const match = new RegExp(`^nodejs_heap_space_size_used_bytes\\{space="${name}"\\} (\\S+)$`, 'm').exec(body);
    return match ? Number(match[1]) / MB : undefined;
  };
  const codeSpaces = await Promise.all(['code', 'code_large_object'].map(space));
  const heapUsedMb = await metric('nodejs_heap_size_used_bytes');
  const heapTotalMb = await metric('nodejs_heap_size_total_bytes');
  const externalMb = await metric('nodejs_external_memory_bytes');
  const newSpaceMb = await space('new');
  const oldSpaceMb = await space('old');
  return {
    ...rss,
    ...(heapUsedMb !== undefined ? { heapUsedMb } : {}),
    ...(heapTotalMb !== undefined ? { heapTotalMb } : {}),
    ...(externalMb !== undefined ? { externalMb } : {}),
    ...(newSpaceMb !== undefined ? { newSpaceMb } : {}),
    ...(oldSpaceMb !== undefined ? { oldSpaceMb } : {}),
    codeMb: codeSpaces.reduce((a: number, b) => a + (b ?? 0), 0),
  };
}

interface SettingResult {
  setting: string;
  nodeFlags: string;
  env: string;
  readySeconds: number;
  /** Spawn to /readyz 200, and to the first pod's first credential (STS included; both polled every 20 ms). */
  startup: Startup;
  /** Process start to the metadata port open (first lists in), from the agent's own log. */
  servingMs: number;
  idle: AgentMemory;
  afterLoad: AgentMemory;
  loadP99Ms: number;
  loadFailed: number;
  loadCpuMicrosPerRequest: number;
  afterSaturation?: AgentMemory;
  rps?: Spread;
  cpuMicrosPerAnswer?: Spread;
  heap?: HeapSummary;
}

/** The scale cluster plus one hot pod at 127.0.0.1, the address autocannon sends from. */
function scaleCluster(): { objects: ReturnType<typeof scaleObjects>['objects']; pods: ReturnType<typeof scaleObjects>['pods']; sessions: number } {
  const { objects, pods } = scaleObjects(SCALE);
  objects.push(
    makeNamespace('bench', { 'iam.amazonaws.com/role': HOT_ROLE }),
    makePod({ name: 'hot', namespace: 'bench', ip: HOT_POD_IP, nodeName: NODE }),
  );
  const sessions = new Set(pods.map((pod) => `${pod.role} ${pod.namespace}`)).size + 1;
  return { objects, pods, sessions };
}

interface Startup {
  readyMs: number;
  firstCredentialMs: number;
}

async function startSetting(setting: Setting, cluster: BenchCluster, sts: FakeSts, sessions: number, cwd: string, probe: ScalePod = { ip: HOT_POD_IP, role: HOT_ROLE, namespace: 'bench' }): Promise<{ agent: AgentProcess; readySeconds: number; startup: Startup }> {
  const started = performance.now();
  const extra = setting.name === 'image' && process.env.BENCH_HEAP_SNAPSHOT === '1' ? ['--heapsnapshot-signal=SIGUSR2'] : [];
  // As bench/child.ts: the rate limiter stays on (its cost is part of the hot path) with a budget
  // that the saturated rounds, all from one pod, never exhaust.
  const limits = ['--rate-limit', '1000000000', '--rate-limit-burst', '1000000000'];
  const agent = await AgentProcess.start(setting.cli ?? BUNDLE, [...agentArgs(cluster.kubeconfig, sts.url), ...limits], [...setting.nodeFlags, ...extra], { env: setting.env, cwd });
  await until('the agent to be ready', async () => ((await get(agent.adminUrl, '/readyz')).status === 200 ? true : undefined), 120_000);
  const readyMs = performance.now() - started;
  await until('the first credential', async () => ((await get(agent.url, CREDENTIALS_PATH + probe.role, probe.ip)).status === 200 ? true : undefined), 120_000);
  const firstCredentialMs = performance.now() - started;
  await waitForSessions(agent.adminUrl, sessions, 120_000);
  return { agent, readySeconds: (performance.now() - started) / 1000, startup: { readyMs, firstCredentialMs } };
}

async function measureAtScale(settings: readonly Setting[], sts: FakeSts, saturated: boolean): Promise<SettingResult[]> {
  const { objects, pods, sessions } = scaleCluster();
  const cluster = await startCluster(objects);
  const cwd = mkdtempSync(join(os.tmpdir(), 'corridor-memory-'));
  const running: Array<{ setting: Setting; agent: AgentProcess; readySeconds: number; startup: Startup }> = [];
  try {
    // One after the other, so that no start-up competes with another's.
    for (const setting of settings) {
      running.push({ setting, ...(await startSetting(setting, cluster, sts, sessions, cwd, pods[0])) });
      const started = running.at(-1)!;
      log(`  ${setting.name}: serving ${started.agent.uptimeMs} ms after its process started; ready ${Math.round(started.startup.readyMs)} ms, first credential ${Math.round(started.startup.firstCredentialMs)} ms after spawn; with ${sessions} sessions in ${started.readySeconds.toFixed(1)} s`);
    }
    // Idle: every setting sampled at once, the same time after the last start (V8 shrinks its heap
    // when a process has been idle for a while: a later sample would favour the settings sampled last).
    await sleep(7000);
    const idles = new Map<string, AgentMemory>();
    for (const { setting, agent } of running) idles.set(setting.name, await agentMemory(agent));
    const results: SettingResult[] = [];
    for (const { setting, agent, readySeconds, startup } of running) {
      const idle = idles.get(setting.name)!;
      const roleOf = new Map(pods.map((pod) => [pod.ip, pod.role]));
      let cpuFrom = 0;
      let cpuTo = 0;
      const load = await fixedRate({
        url: agent.url,
        path: (ip: string) => CREDENTIALS_PATH + roleOf.get(ip),
        rate: RATE,
        sources: pods.map((pod) => pod.ip),
        socketsPerSource: 1,
        warmupMs: 3000,
        durationMs: RATE_SECONDS * 1000,
        around: { before: async () => void (cpuFrom = agent.cpuMicros()), after: async () => void (cpuTo = agent.cpuMicros()) },
      });
      const afterLoad = await agentMemory(agent);
      results.push({
        setting: setting.name,
        nodeFlags: setting.nodeFlags.join(' ') || '(none)',
        env: Object.entries(setting.env).map(([k, v]) => `${k}=${v}`).join(' '),
        readySeconds,
        startup,
        servingMs: agent.uptimeMs,
        idle,
        afterLoad,
        loadP99Ms: load.p99,
        loadFailed: load.failed,
        loadCpuMicrosPerRequest: (cpuTo - cpuFrom) / Math.max(1, load.ok + load.failed),
      });
      log(`  ${setting.name}: RSS ${idle.rssMb.toFixed(1)} MB idle, ${afterLoad.rssMb.toFixed(1)} MB after ${RATE_SECONDS} s at ${RATE} req/s (p99 ${load.p99.toFixed(1)} ms, ${load.failed} failed)`);
    }
    if (process.env.BENCH_HEAP_SNAPSHOT === '1') {
      const image = running.find((r) => r.setting.name === 'image');
      if (image) {
        image.agent.signal('SIGUSR2');
        const file = await until('the heap snapshot', async () => {
          const found = readdirSync(cwd).find((name) => name.endsWith('.heapsnapshot'));
          if (!found) return undefined;
          // Written when its size stops changing.
          const size = () => readFileSync(join(cwd, found)).length;
          const first = size();
          await sleep(500);
          return first > 0 && size() === first ? join(cwd, found) : undefined;
        }, 60_000, 500);
        results.find((r) => r.setting === 'image')!.heap = summariseHeapSnapshot(readFileSync(file, 'utf8'));
        log(`  heap snapshot of the image setting: ${file}`);
      }
    }
    if (saturated) {
      const path = CREDENTIALS_PATH + HOT_ROLE;
      log(`  saturation: ${WARMUP_SECONDS} s warm-up each, then ${ROUNDS} interleaved rounds of ${SATURATION_SECONDS} s, ${CONNECTIONS} connections`);
      for (const { agent } of running) await saturate(agent.url, path, WARMUP_SECONDS, CONNECTIONS);
      const rps = new Map<string, number[]>(running.map((r) => [r.setting.name, []]));
      const cpu = new Map<string, number[]>(running.map((r) => [r.setting.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const { setting, agent } of turned(running, round)) {
          const before = agent.cpuMicros();
          const result = await saturate(agent.url, path, SATURATION_SECONDS, CONNECTIONS);
          const used = agent.cpuMicros() - before;
          rps.get(setting.name)!.push(result.rps);
          cpu.get(setting.name)!.push(used / Math.max(1, result.ok));
          log(`    round ${round + 1} ${setting.name}: ${Math.round(result.rps)} req/s, ${(used / Math.max(1, result.ok)).toFixed(1)} us CPU per answer`);
        }
      }
      for (const result of results) {
        const agent = running.find((r) => r.setting.name === result.setting)!.agent;
        result.rps = spread(rps.get(result.setting)!);
        result.cpuMicrosPerAnswer = spread(cpu.get(result.setting)!);
        result.afterSaturation = await agentMemory(agent);
      }
    }
    return results;
  } finally {
    for (const { agent } of running) await agent.stop();
    await cluster.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// a small node: 9 pods, after saturated and fixed-rate load (the kube2iam comparison's case)

async function measureSmall(settings: readonly Setting[], sts: FakeSts): Promise<Array<{ setting: string; idle: AgentMemory; afterLoad: AgentMemory }>> {
  const cluster = await startCluster(hotPathObjects());
  const cwd = mkdtempSync(join(os.tmpdir(), 'corridor-memory-'));
  const out: Array<{ setting: string; idle: AgentMemory; afterLoad: AgentMemory }> = [];
  try {
    for (const setting of settings) {
      const { agent } = await startSetting(setting, cluster, sts, 1, cwd);
      try {
        await sleep(3000);
        const idle = await agentMemory(agent);
        await saturate(agent.url, CREDENTIALS_PATH + HOT_ROLE, WARMUP_SECONDS, CONNECTIONS);
        await fixedRate({ url: agent.url, path: CREDENTIALS_PATH + HOT_ROLE, rate: RATE, warmupMs: 1000, durationMs: 4000, sources: RATE_POD_IPS, socketsPerSource: 1 });
        const afterLoad = await agentMemory(agent);
        out.push({ setting: setting.name, idle, afterLoad });
        log(`  ${setting.name}: 9 pods, RSS ${idle.rssMb.toFixed(1)} MB idle, ${afterLoad.rssMb.toFixed(1)} MB after load`);
      } finally {
        await agent.stop();
      }
    }
    return out;
  } finally {
    await cluster.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function turned<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function main(): Promise<void> {
  const parts = new Set((process.env.BENCH_MEMORY_PARTS ?? `imports,scale,${process.env.KUBE2IAM_BIN ? 'kube2iam,' : ''}small`).split(','));
  const picked = process.env.BENCH_MEMORY_SETTINGS?.split(',');
  // BENCH_MEMORY_REPEAT=n: n agents per setting (name#1..#n), as one agent's idle heap depends on when its GCs fell.
  const repeat = Math.max(1, env('BENCH_MEMORY_REPEAT', 1));
  const settings = (picked ? SETTINGS.filter((s) => picked.includes(s.name)) : SETTINGS).flatMap((s) =>
    repeat === 1 ? [s] : Array.from({ length: repeat }, (_, i) => ({ ...s, name: `${s.name}#${i + 1}` })),
  );
  const loadavgAtStart = os.loadavg()[0]!;
  log(`node ${process.version}; the image: node ${IMAGE.nodeMajor}, flags ${IMAGE.nodeFlags.join(' ') || '(none)'}, env ${JSON.stringify(IMAGE.env)}; load average ${loadavgAtStart.toFixed(2)}`);
  if (Number(/^v(\d+)/.exec(process.version)?.[1]) !== IMAGE.nodeMajor) log(`WARNING: this Node is not the image's Node ${IMAGE.nodeMajor}`);
  const out: string[] = [];
  const result: Record<string, unknown> = { node: process.version, loadavgAtStart, image: IMAGE, scale: SCALE };

  if (parts.has('imports')) {
    log('import cost: fresh processes, the image flags, after a full GC; median of 3');
    const imports = await measureImports();
    result.imports = imports;
    const b = imports.base;
    const delta = (s: MemorySample | undefined, from: MemorySample) => (s ? `+${f1(s.rssMb - from.rssMb)} (anon +${f1(s.anonMb - from.anonMb)}, file +${f1(s.fileMb - from.fileMb)}), heap +${f1(s.heapUsedMb - from.heapUsedMb)}` : '');
    const rows: string[][] = [['node alone', `${f1(b.rssMb)} (anon ${f1(b.anonMb)}, file ${f1(b.fileMb)}), heap ${f1(b.heapUsedMb)}, code ${f1(b.codeMb)}`, '', '']];
    let previous = b;
    for (const row of imports.rows) {
      rows.push([row.what, delta(row.alone, b), row.cumulative ? delta(row.cumulative, previous) : '(not loaded by the agent)', row.cumulative ? `${f1(row.cumulative.rssMb)}, heap ${f1(row.cumulative.heapUsedMb)}, code ${f1(row.cumulative.codeMb)}` : '']);
      if (row.cumulative) previous = row.cumulative;
    }
    out.push('import cost, MB (RSS, its anonymous and file-backed parts, V8 heap used after GC)', table(['module', 'alone, over node alone', 'next in agent order, over the row above', 'cumulative RSS'], rows), '');
  }

  const sts = await startFakeSts({ latencyMs: STS_LATENCY_MS });
  try {
    if (parts.has('scale')) {
      log(`scale: ${SCALE.pods} pods on the node, ${SCALE.namespaces} namespaces, ${SCALE.roles} roles; settings ${settings.map((s) => s.name).join(', ')}`);
      const scale = await measureAtScale(settings, sts, process.env.BENCH_MEMORY_SATURATE !== '0');
      result.atScale = scale;
      out.push(
        `at scale: ${SCALE.pods} pods, ${SCALE.namespaces} namespaces, ${SCALE.roles} roles; RSS MB (anon/file), V8 heap used/total MB; saturated req/s and CPU per answer: median (min..max, spread) of ${ROUNDS} rounds`,
        table(
          ['setting', 'flags and env', 'ready ms / first credential ms / all sessions s', 'RSS idle', 'heap idle', 'RSS after load', 'heap after load', 'new/old/code after', 'RSS after saturation', 'req/s', 'CPU us/answer', `CPU us/req at ${RATE}/s`, 'p99 ms'],
          scale.map((r) => [
            r.setting,
            `${r.nodeFlags} ${r.env}`,
            `${Math.round(r.startup.readyMs)} / ${Math.round(r.startup.firstCredentialMs)} / ${f1(r.readySeconds)}`,
            `${f1(r.idle.rssMb)} (${f1(r.idle.anonMb)}/${f1(r.idle.fileMb)})`,
            `${f1(r.idle.heapUsedMb)}/${f1(r.idle.heapTotalMb)}`,
            `${f1(r.afterLoad.rssMb)} (${f1(r.afterLoad.anonMb)}/${f1(r.afterLoad.fileMb)})`,
            `${f1(r.afterLoad.heapUsedMb)}/${f1(r.afterLoad.heapTotalMb)}`,
            `${f1(r.afterLoad.newSpaceMb)}/${f1(r.afterLoad.oldSpaceMb)}/${f1(r.afterLoad.codeMb)}`,
            f1(r.afterSaturation?.rssMb),
            sp(r.rps, 0),
            sp(r.cpuMicrosPerAnswer, 1),
            f1(r.loadCpuMicrosPerRequest),
            f1(r.loadP99Ms),
          ]),
        ),
        '',
      );
      const heap = scale.find((r) => r.heap)?.heap;
      if (heap) {
        out.push(`heap snapshot of the image setting after load: ${f1(heap.totalMb)} MB in ${heap.nodes} objects`);
        out.push(table(['what (type: name)', 'count', 'self MB'], heap.byName.map((row) => [row.name, String(row.count), row.selfMb.toFixed(2)])));
        out.push(table(['retained by (an object of corridor, by constructor or the field holding it)', 'retained MB'], heap.retainers.map((row) => [row.name, row.retainedMb.toFixed(2)])), '');
      }
    }
    if (parts.has('kube2iam')) {
      log(`kube2iam (KUBE2IAM_BIN) at the same scale: ${SCALE.pods} pods on the node, ${SCALE.namespaces} namespaces`);
      const k = await measureKube2iamScale(SCALE, sts, RATE, RATE_SECONDS * 1000, log);
      result.kube2iam = k;
      const row = k.rssIdleMb === undefined ? [k.status, '', '', ''] : [k.status, `${Math.round(k.firstCredentialMs ?? Number.NaN)} / ${f1(k.readySeconds)}`, f1(k.rssIdleMb), f1(k.rssAfterLoadMb)];
      out.push(
        `kube2iam at the same scale (every pod annotated with its role; ${k.roles} roles): start-up, RSS MB idle and after ${RATE_SECONDS} s at ${RATE} req/s`,
        table(['status', 'first credential ms / every pod answered s', 'RSS idle', 'RSS after load'], [row]),
        '',
      );
    }
    if (parts.has('small')) {
      log('a small node: 9 pods, after saturated and fixed-rate load');
      const small = await measureSmall(settings, sts);
      result.small = small;
      out.push('small node, 9 pods: RSS MB (anon/file)', table(['setting', 'idle', 'after load'], small.map((r) => [r.setting, `${f1(r.idle.rssMb)} (${f1(r.idle.anonMb)}/${f1(r.idle.fileMb)})`, `${f1(r.afterLoad.rssMb)} (${f1(r.afterLoad.anonMb)}/${f1(r.afterLoad.fileMb)})`])), '');
    }
  } finally {
    await sts.close();
  }
  result.loadavgAtEnd = os.loadavg()[0];
  out.unshift(`corridor bench:memory: node ${process.version}, ${os.cpus().length} CPUs, load average ${loadavgAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end`);
  process.stdout.write(`${out.join('\n')}\n${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:memory failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
