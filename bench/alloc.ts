import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startFakeSts } from '../demo/index.js';
import { TOKEN_TTL_HEADER, TOKEN_PATH } from '../src/imds-protocol/index.js';
import { AgentProcess } from './agent-process.js';
import { agentArgs, CREDENTIALS_PATH, hotPathObjects, HOT_ROLE, startCluster } from './cluster.js';
import { imageRuntime } from './image.js';
import { CONNECTIONS, env } from './knobs.js';
import { spread, type Spread } from './load.js';
import { until, waitForSessions } from './probe.js';
import { sp, table } from './table.js';

/**
 * `npm run bench:alloc`: bytes the V8 heap allocates per answer on the cached path, as the image
 * runs the agent (the bundle, the Dockerfile's Node flags and env), with req/s and CPU per answer
 * beside them. A preloaded probe (bench/alloc-probe.ts) counts the heap's allocation between two
 * signals around each saturated window, so the agent's code is the image's, untouched.
 * - What is asked: the cached credential GET (tokenless), the same GET with an IMDSv2 token, and
 *   the token PUT, each saturated from one pod over BENCH_CONNECTIONS keep-alive connections.
 * - BENCH_ALLOC_BASELINE=<another bundle's corridor.mjs> (e.g. main's, bundled with
 *   CORRIDOR_BUNDLE_DIR): that agent too, in the same interleaved rounds, for before and after
 *   side by side. Knobs: BENCH_ALLOC_ROUNDS (5), BENCH_ALLOC_SECONDS (3 per window),
 *   BENCH_ALLOC_WARMUP_SECONDS (5 per agent and request).
 */

const ROUNDS = Math.max(1, env('BENCH_ALLOC_ROUNDS', 5));
const SECONDS = env('BENCH_ALLOC_SECONDS', 3);
const WARMUP_SECONDS = env('BENCH_ALLOC_WARMUP_SECONDS', 5);
const BUNDLE = fileURLToPath(new URL('../bundle/corridor.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./alloc-probe.js', import.meta.url));
const IMAGE = imageRuntime();
const TTL = '21600';

function log(line: string): void {
  process.stderr.write(`[bench:alloc] ${line}\n`);
}

interface Ask {
  name: string;
  method: 'GET' | 'PUT';
  path: string;
  headers: Record<string, string>;
}

interface Build {
  name: string;
  bundle: string;
}

interface Window {
  answers: number;
  non2xx: number;
  rps: number;
  bytesPerAnswer: number;
  cpuMicrosPerAnswer: number;
}

/** A bundled agent with the probe, and the file the probe writes to. */
interface Probed {
  build: Build;
  agent: AgentProcess;
  file: string;
}

async function startProbed(build: Build, args: string[], file: string): Promise<Probed> {
  const agent = await AgentProcess.start(build.bundle, args, [...IMAGE.nodeFlags, `--import=${PROBE}`], { env: { ...IMAGE.env, BENCH_ALLOC_FILE: file } });
  await waitForSessions(agent.adminUrl, 1, 60_000);
  return { build, agent, file };
}

/** Signals the probe and waits for what it writes. */
async function probeSignal<T>(probed: Probed, expect: (value: Record<string, unknown>) => T | undefined): Promise<T> {
  rmSync(probed.file, { force: true });
  probed.agent.signal('SIGUSR2');
  return until('the allocation probe', async () => (existsSync(probed.file) ? expect(JSON.parse(readFileSync(probed.file, 'utf8')) as Record<string, unknown>) : undefined), 10_000, 5);
}

function load(url: string, ask: Ask, seconds: number): ReturnType<typeof autocannon> {
  return autocannon({ url: url + ask.path, method: ask.method, headers: ask.headers, connections: CONNECTIONS, pipelining: 1, duration: seconds, timeout: 5 });
}

async function measure(probed: Probed, ask: Ask): Promise<Window> {
  await probeSignal(probed, (value) => (value.started === true ? true : undefined));
  const cpuBefore = probed.agent.cpuMicros();
  const result = await load(probed.agent.url, ask, SECONDS);
  const cpuAfter = probed.agent.cpuMicros();
  const { allocatedBytes } = await probeSignal(probed, (value) => (typeof value.allocatedBytes === 'number' ? { allocatedBytes: value.allocatedBytes } : undefined));
  const answers = result['2xx'] + result.non2xx;
  return {
    answers,
    non2xx: result.non2xx,
    rps: result['2xx'] / result.duration,
    bytesPerAnswer: allocatedBytes / Math.max(1, answers),
    cpuMicrosPerAnswer: (cpuAfter - cpuBefore) / Math.max(1, answers),
  };
}

async function main(): Promise<void> {
  const loadavgAtStart = os.loadavg()[0]!;
  const builds: Build[] = [{ name: 'this checkout', bundle: BUNDLE }];
  const baseline = process.env.BENCH_ALLOC_BASELINE;
  if (baseline !== undefined) builds.unshift({ name: `baseline (${baseline})`, bundle: baseline });
  const sts = await startFakeSts({ latencyMs: 0 });
  const cluster = await startCluster(hotPathObjects());
  const work = mkdtempSync(join(os.tmpdir(), 'corridor-alloc-'));
  // The rate limiter stays on (its cost is part of the hot path) with a budget one pod never exhausts.
  const args = [...agentArgs(cluster.kubeconfig, sts.url), '--rate-limit', '1000000000', '--rate-limit-burst', '1000000000'];
  const agents: Probed[] = [];
  try {
    for (const [i, build] of builds.entries()) agents.push(await startProbed(build, args, join(work, `agent-${i}.json`)));
    // A token of the hot pod's (127.0.0.1) from each agent: each signs with its own key.
    const tokens = new Map<Probed, string>();
    for (const probed of agents) {
      const answer = await fetch(probed.agent.url + TOKEN_PATH, { method: 'PUT', headers: { [TOKEN_TTL_HEADER]: TTL } });
      tokens.set(probed, await answer.text());
    }
    const asks = (probed: Probed): Ask[] => [
      { name: 'credential GET', method: 'GET', path: CREDENTIALS_PATH + HOT_ROLE, headers: {} },
      { name: 'credential GET, IMDSv2 token', method: 'GET', path: CREDENTIALS_PATH + HOT_ROLE, headers: { 'x-aws-ec2-metadata-token': tokens.get(probed)! } },
      { name: 'token PUT', method: 'PUT', path: TOKEN_PATH, headers: { [TOKEN_TTL_HEADER]: TTL } },
    ];
    for (const probed of agents) {
      for (const ask of asks(probed)) await load(probed.agent.url, ask, WARMUP_SECONDS);
      log(`${probed.build.name}: warm`);
    }
    const windows = new Map<string, Window[]>();
    for (let round = 0; round < ROUNDS; round++) {
      // The order turns each round, so neither agent always goes first.
      const order = agents.map((_, i) => agents[(i + round) % agents.length]!);
      for (const probed of order) {
        for (const ask of asks(probed)) {
          const window = await measure(probed, ask);
          const key = `${probed.build.name}\t${ask.name}`;
          windows.set(key, [...(windows.get(key) ?? []), window]);
          log(`round ${round + 1} ${probed.build.name}, ${ask.name}: ${Math.round(window.bytesPerAnswer)} B/answer, ${Math.round(window.rps)} req/s, ${window.cpuMicrosPerAnswer.toFixed(1)} us CPU/answer${window.non2xx ? `, ${window.non2xx} non-2xx` : ''}`);
        }
      }
    }
    const rows: Array<{ build: string; ask: string; bytes: Spread; rps: Spread; cpu: Spread; non2xx: number }> = [];
    for (const [key, list] of windows) {
      const [build, ask] = key.split('\t') as [string, string];
      rows.push({
        build,
        ask,
        bytes: spread(list.map((w) => w.bytesPerAnswer)),
        rps: spread(list.map((w) => w.rps)),
        cpu: spread(list.map((w) => w.cpuMicrosPerAnswer)),
        non2xx: list.reduce((n, w) => n + w.non2xx, 0),
      });
    }
    const loadavgAtEnd = os.loadavg()[0]!;
    const out = [
      `corridor bench:alloc: node ${process.version}, ${os.cpus().length} CPUs, load average ${loadavgAtStart.toFixed(2)} at start, ${loadavgAtEnd.toFixed(2)} at end; ` +
        `the bundle with ${IMAGE.nodeFlags.join(' ')}; ${ROUNDS} interleaved rounds of ${SECONDS} s per request, ${CONNECTIONS} connections; median (min..max, spread)`,
      table(
        ['build', 'request', 'heap bytes allocated per answer', 'req/s', 'CPU us per answer', 'non-2xx'],
        rows.map((r) => [r.build, r.ask, sp(r.bytes, 0), sp(r.rps, 0), sp(r.cpu, 1), String(r.non2xx)]),
      ),
    ];
    if (loadavgAtStart > 1.5) out.push(`WARNING: load average ${loadavgAtStart.toFixed(2)} at start: other work shares the machine`);
    process.stdout.write(`${out.join('\n')}\n${JSON.stringify({ node: process.version, loadavgAtStart, loadavgAtEnd, rounds: ROUNDS, seconds: SECONDS, rows })}\n`);
  } finally {
    for (const probed of agents) await probed.agent.stop();
    await cluster.close();
    await sts.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:alloc failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
