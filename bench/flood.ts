import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeNamespace, makePod, startFakeSts } from '../demo/index.js';
import { agentArgs, CREDENTIALS_PATH, NODE, startCluster } from './cluster.js';
import type { FloodCounts } from './flooder.js';
import { fixedRate, get, median, type FixedRateResult } from './load.js';
import { until, waitForSessions } from './probe.js';
import { AgentProcess } from './agent-process.js';
import { imageRuntime } from './image.js';

/**
 * `npm run bench:flood`: one pod floods the metadata port (issue 11: 256 keep-alive connections,
 * 64 pipelined requests each, far over its rate limit) while a second pod asks at 50 req/s, the
 * pace of an SDK fleet in one pod. The agent runs with its default limits. Each round measures
 * the second pod alone, then under the flood, side by side; printed as medians with the spread.
 * Target: the second pod's p99 <= 10 ms with no failures. With BENCH_FLOOD_BASELINE set to another
 * build's `dist/src/cli/corridor.js`, that build is measured the same way in the same run,
 * rounds interleaved, so "before and after" share the machine's noise.
 */

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = env('BENCH_FLOOD_ROUNDS', 3);
const SECONDS = env('BENCH_FLOOD_SECONDS', 8);
const CONNECTIONS = env('BENCH_FLOOD_CONNECTIONS', 256);
const DEPTH = env('BENCH_FLOOD_DEPTH', 64);
const VICTIM_RATE = env('BENCH_FLOOD_VICTIM_RATE', 50);
/** The image's V8 settings (its Dockerfile ENTRYPOINT), as in bench/run.ts. */
const AGENT_NODE_OPTIONS = imageRuntime().nodeFlags;

const FLOODER_IP = '127.0.0.31';
const VICTIM_IP = '127.0.0.32';
const ROLE = 'flood-reader';
const FLOODER = fileURLToPath(new URL('./flooder.js', import.meta.url));
const THIS_BUILD = fileURLToPath(new URL('../src/cli/corridor.js', import.meta.url));
const BASELINE = process.env.BENCH_FLOOD_BASELINE;

export interface FloodRound {
  alone: FixedRateResult;
  flooded: FixedRateResult;
  flood: FloodCounts;
  /** The agent's CPU, as a share of one core, during the flooded window. */
  agentCpu: number;
}

function log(line: string): void {
  process.stderr.write(`[bench:flood] ${line}\n`);
}

function startFlood(url: string, seconds: number): Promise<FloodCounts> {
  return promisify(execFile)(process.execPath, [FLOODER, url, CREDENTIALS_PATH + ROLE, FLOODER_IP, String(CONNECTIONS), String(DEPTH), String(seconds)], {
    maxBuffer: 1024 * 1024,
  }).then(({ stdout }) => JSON.parse(stdout) as FloodCounts);
}

function victimLoad(url: string, durationMs: number, around?: { before(): Promise<void>; after(): Promise<void> }): Promise<FixedRateResult> {
  return fixedRate({
    url,
    path: CREDENTIALS_PATH + ROLE,
    rate: VICTIM_RATE,
    warmupMs: 1000,
    durationMs,
    sources: [VICTIM_IP],
    socketsPerSource: 4,
    ...(around ? { around } : {}),
  });
}

export async function measureFlood(): Promise<Map<string, FloodRound[]>> {
  const sts = await startFakeSts({ latencyMs: 20 });
  const cluster = await startCluster([
    makeNamespace('flood', { 'iam.amazonaws.com/role': ROLE }),
    makePod({ name: 'flooder', namespace: 'flood', ip: FLOODER_IP, nodeName: NODE }),
    makePod({ name: 'victim', namespace: 'flood', ip: VICTIM_IP, nodeName: NODE }),
  ]);
  const builds = new Map<string, string>([['this build', THIS_BUILD], ...(BASELINE ? [['baseline', BASELINE] as [string, string]] : [])]);
  const agents = new Map<string, AgentProcess>();
  try {
    // Default limits (100/s, burst 500): the limit is what is measured.
    for (const [name, cli] of builds) {
      // A baseline from before IMDSv2 keys were kept on the node has no --token-key-dir.
      const args = agentArgs(cluster.kubeconfig, sts.url).filter((arg, i, all) => cli === THIS_BUILD || (arg !== '--token-key-dir' && all[i - 1] !== '--token-key-dir'));
      const agent = await AgentProcess.start(cli, args, AGENT_NODE_OPTIONS);
      agents.set(name, agent);
      await waitForSessions(agent.adminUrl, 1, 30_000);
      await until('a credential document', async () => ((await get(agent.url, CREDENTIALS_PATH + ROLE, VICTIM_IP)).status === 200 ? true : undefined), 10_000);
    }
    const rounds = new Map<string, FloodRound[]>([...builds.keys()].map((name) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [...agents] : [...agents].reverse();
      for (const [name, agent] of order) {
        const alone = await victimLoad(agent.url, SECONDS * 1000);
        // The flood starts first and outlasts the second pod's window (warm-up 1 s + SECONDS).
        const flood = startFlood(agent.url, SECONDS + 3);
        let cpuBefore = 0;
        let windowStart = 0;
        let agentCpu = Number.NaN;
        const flooded = await victimLoad(agent.url, SECONDS * 1000, {
          before: async () => { cpuBefore = agent.cpuMicros(); windowStart = performance.now(); },
          after: async () => { agentCpu = (agent.cpuMicros() - cpuBefore) / 1000 / (performance.now() - windowStart); },
        });
        const counts = await flood;
        rounds.get(name)!.push({ alone, flooded, flood: counts, agentCpu });
        log(
          `round ${round + 1} ${name}: alone p50 ${alone.p50.toFixed(2)} p99 ${alone.p99.toFixed(2)} ms, ${alone.failed} failed; ` +
            `flooded p50 ${flooded.p50.toFixed(2)} p99 ${flooded.p99.toFixed(2)} max ${flooded.max.toFixed(1)} ms, ${flooded.failed} failed of ${flooded.sent}; ` +
            `flooder ${Math.round(counts.answers / counts.seconds)} answers/s ${JSON.stringify(counts.statuses)}, ${counts.closed} closed; agent CPU ${(agentCpu * 100).toFixed(0)}%`,
        );
        // Let the flooder's connections drain before the next measurement.
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    return rounds;
  } finally {
    for (const agent of agents.values()) await agent.stop();
    await cluster.close();
    await sts.close();
  }
}

const spread = (values: readonly number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;

export function floodSummary(rounds: readonly FloodRound[]) {
  const pick = (f: (r: FloodRound) => number) => rounds.map(f);
  const floodRate = pick((r) => r.flood.answers / r.flood.seconds);
  const limited = pick((r) => (r.flood.statuses['200'] ?? 0) / r.flood.seconds);
  return {
    rounds: rounds.length,
    victimRate: VICTIM_RATE,
    flood: { connections: CONNECTIONS, depth: DEPTH },
    aloneP50Ms: median(pick((r) => r.alone.p50)),
    aloneP99Ms: median(pick((r) => r.alone.p99)),
    floodedP50Ms: median(pick((r) => r.flooded.p50)),
    floodedP99Ms: median(pick((r) => r.flooded.p99)),
    floodedP99SpreadMs: spread(pick((r) => r.flooded.p99)),
    floodedMaxMs: Math.max(...pick((r) => r.flooded.max)),
    victimFailed: pick((r) => r.flooded.failed + r.alone.failed).reduce((a, b) => a + b, 0),
    victimSent: pick((r) => r.flooded.sent + r.alone.sent).reduce((a, b) => a + b, 0),
    flooderAnswersPerSecond: Math.round(median(floodRate)),
    flooderCredentialsPerSecond: Math.round(median(limited)),
    flooderClosedPerRound: Math.round(median(pick((r) => r.flood.closed))),
    agentCpuPercent: Math.round(median(pick((r) => r.agentCpu)) * 100),
  };
}

async function main(): Promise<void> {
  log(`${ROUNDS} rounds of ${SECONDS} s: a second pod at ${VICTIM_RATE} req/s alone, then beside a flood of ${CONNECTIONS} connections x ${DEPTH} pipelined`);
  const measured = await measureFlood();
  const out = [`corridor flood bench: node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(2)}`];
  for (const [name, rounds] of measured) {
    const s = floodSummary(rounds);
    out.push(
      `${name}:`,
      `  second pod alone:          p50 ${s.aloneP50Ms.toFixed(2)} ms, p99 ${s.aloneP99Ms.toFixed(2)} ms`,
      `  second pod beside a flood: p50 ${s.floodedP50Ms.toFixed(2)} ms, p99 ${s.floodedP99Ms.toFixed(2)} ms (rounds ${s.floodedP99SpreadMs}), max ${s.floodedMaxMs.toFixed(1)} ms; ${s.victimFailed} of ${s.victimSent} failed   target: p99 <= 10 ms, 0 failed`,
      `  flooder:                   ${s.flooderAnswersPerSecond} answers/s (${s.flooderCredentialsPerSecond} credentials/s), ${s.flooderClosedPerRound} connections closed per round; agent CPU ${s.agentCpuPercent}% of a core`,
      JSON.stringify({ bench: 'corridor-flood', build: name, ...s }),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:flood failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
