import { execFile } from 'node:child_process';
import type { Test } from 'tap';
import { startFakeSts, type FakeSts } from '../../demo/index.js';
import { startHarness, type TestAgent } from './agent-harness.js';
import { reportPeerWhenPassing, skipPeer, type PeerBuild } from './peers.js';
import { makeNamespace, makePod, within } from './fake-kube-api.js';
import { startMoto, type Moto } from './moto.js';

/**
 * What the SDK peer tests share: an agent (real, against the Kubernetes API stand-in) that
 * knows one pod at the client's source address in namespace gha with default role spark-etl and
 * refuses tokenless GETs (--require-imdsv2, so a client that gets credentials at all used
 * IMDSv2); moto as STS for identity, the STS stand-in (which refuses expired credentials) with
 * 30 s sessions for rollovers; and a clean environment in which an SDK finds nothing but the
 * instance-metadata endpoint.
 */

export const ROLE = 'spark-etl';
export const EXPECTED_ARN = `arn:aws:sts::123456789012:assumed-role/${ROLE}/corridor.gha.node-a`;

/**
 * Production timings (1 h sessions, refresh 45 min before expiry, 25 min floor) at 1/120 scale:
 * a new session every 7.5-10 s, and served credentials keep at least 12.5 s.
 */
export const ROLLOVER_FLAGS = ['--session-duration', '30s', '--refresh-before', '22500ms', '--min-remaining', '12500ms', '--allow-unsafe-min-remaining'];

export interface ClientRound {
  /** When the round began, ms since the epoch. */
  at?: number;
  arn?: string;
  key?: string;
  /** The credential provider that answered, where the SDK says (Go: EC2RoleProvider). */
  source?: string;
  error?: string;
}

export interface ClientResult {
  sdk?: string;
  version?: string;
  rounds: ClientRound[];
  failures: number;
  [field: string]: unknown;
}

/** Starts the agent with one pod of namespace gha at `podIp`. */
async function startPeerAgent(t: Test, options: { podIp: string; stsEndpoint: string; flags?: string[] }): Promise<TestAgent> {
  const agent = await startHarness(t, {
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/role': ROLE }),
      makePod({ name: 'sdk-client', namespace: 'gha', ip: options.podIp, nodeName: 'node-a' }),
    ],
    stsEndpoint: options.stsEndpoint,
    flags: ['--require-imdsv2', ...(options.flags ?? [])],
  });
  await within(agent.agent.directory.whenReady(), 10_000, 'the agent to be ready');
  return agent;
}

export async function identityPeer(t: Test, podIp: string): Promise<{ moto: Moto; agent: TestAgent }> {
  const moto = await startMoto(t);
  return { moto, agent: await startPeerAgent(t, { podIp, stsEndpoint: moto.endpoint }) };
}

export async function rolloverPeer(t: Test, podIp: string): Promise<{ sts: FakeSts; agent: TestAgent }> {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  return { sts, agent: await startPeerAgent(t, { podIp, stsEndpoint: sts.url, flags: ROLLOVER_FLAGS }) };
}

/** The environment of a pod with no AWS configuration: only the metadata endpoint (the agent). */
export function podEnv(imdsUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_REGION: 'us-east-1',
    ...extra,
  };
  for (const name of Object.keys(env)) {
    if (/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE|DEFAULT_PROFILE|CONTAINER_|WEB_IDENTITY_TOKEN_FILE|ROLE_ARN|EC2_METADATA_DISABLED)/.test(name)) delete env[name];
  }
  return env;
}

/** Runs a client that prints one JSON result on stdout; a non-zero exit still yields its result. */
export function runClient(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as ClientResult);
      } catch {
        reject(new Error(`${file} printed no result (${error?.message ?? 'exit 0'}):\n${stdout.slice(-2000)}\n${stderr.slice(-4000)}`));
      }
    });
  });
}

/** corridor_requests_total{route="token",code="200"}: IMDSv2 tokens the agent has minted. */
export async function tokensMinted(agent: TestAgent): Promise<number> {
  const text = await (await fetch(`${agent.agent.adminUrl}/metrics`)).text();
  return Number(/corridor_requests_total\{route="token",code="200"\} (\d+)/.exec(text)?.[1] ?? 0);
}

/** The assertions every SDK's identity run makes. */
export async function assertIdentity(t: Test, agent: TestAgent, result: ClientResult, tokensBefore: number): Promise<void> {
  t.equal(result.failures, 0, `no failed call (${result.rounds.find((r) => r.error)?.error ?? 'none'})`);
  t.equal(result.rounds[0]?.arn, EXPECTED_ARN, 'moto names the pod\'s assumed role');
  t.ok((await tokensMinted(agent)) > tokensBefore, 'the SDK asked for an IMDSv2 token (and the agent refuses tokenless GETs)');
}

/** The assertions every SDK's rollover run makes. */
export function assertRollover(t: Test, result: ClientResult, sts: FakeSts): void {
  const keys = new Set(result.rounds.map((r) => r.key).filter(Boolean));
  t.equal(result.failures, 0, `no failed call in ${result.rounds.length} (${result.rounds.find((r) => r.error)?.error ?? 'none'})`);
  t.ok(result.rounds.every((r) => r.arn === EXPECTED_ARN), 'every call was made as the pod\'s role');
  t.ok(keys.size >= 2, `the same client moved through ${keys.size} sessions (${keys.size - 1} rollovers)`);
  t.ok(sts.assumeCalls.length >= 2, `${sts.assumeCalls.length} AssumeRole calls by the agent`);
}

/** An SDK peer that runs as a separate program printing one JSON result (botocore, Go, Java). */
export interface ProgramPeer {
  /** The name reported to the runner: botocore, aws-sdk-java-v2, aws-sdk-go-v2. */
  peer: string;
  /** The title of the peer's test. */
  title: string;
  /** The client's source address, which the agent's one pod has. */
  podIp: string;
  /**
   * The client program (what buildPeer returns), with the arguments that come before the STS
   * endpoint; or why it cannot run.
   */
  client: PeerBuild & { args?: readonly string[] };
  /** What the identity run checks beyond assertIdentity; returns the version to report. */
  identity(t: Test, result: ClientResult): string | undefined;
  rollover: {
    title: string;
    /** Arguments after --sts-endpoint: rounds, interval and the like. */
    args: readonly string[];
    /** What the rollover run checks beyond assertRollover. */
    check?(t: Test, result: ClientResult): void;
  };
}

/**
 * The two subtests every program peer runs: one call over IMDSv2 with moto as STS (the identity,
 * and the version reported when the test passes), then one long-lived client across the STS
 * stand-in's 30 s session rollovers without a failed call. Skips, and reports the skip, when the
 * client cannot run.
 */
export function programPeer(t: Test, spec: ProgramPeer): void {
  const { client } = spec;
  if (!client.ok) {
    skipPeer(t, spec.peer, client.reason);
    return;
  }
  const run = (stsEndpoint: string, agent: TestAgent, extra: readonly string[] = []) =>
    runClient(client.path, [...(client.args ?? []), '--sts-endpoint', stsEndpoint, ...extra], podEnv(agent.agent.imdsUrl));
  t.test(spec.title, async (t) => {
    let version: string | undefined;
    reportPeerWhenPassing(t, spec.peer, () => version);

    await t.test('over IMDSv2; moto names the assumed role', async (t) => {
      const { moto, agent } = await identityPeer(t, spec.podIp);
      const before = await tokensMinted(agent);
      const result = await run(moto.endpoint, agent);
      await assertIdentity(t, agent, result, before);
      version = spec.identity(t, result);
    });

    await t.test(spec.rollover.title, async (t) => {
      const { sts, agent } = await rolloverPeer(t, spec.podIp);
      const result = await run(sts.url, agent, spec.rollover.args);
      assertRollover(t, result, sts);
      spec.rollover.check?.(t, result);
    });
  });
}
