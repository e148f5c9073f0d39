import t, { type Test } from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { startFakeSts } from '../../demo/index.js';
import { spawnAgent, type AgentProcess, type AgentProcessSettings } from '../helpers/agent-process.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';
import { runJsSdkAsPod } from '../helpers/js-sdk-pod.js';
import { buildPeer, hasTool, reportPeerWhenPassing, type PeerBuild } from '../helpers/peers.js';
import { EXPECTED_ARN, podEnv, ROLE, ROLLOVER_FLAGS, runClient, type ClientResult, type ClientRound } from '../helpers/sdk-peers.js';

/**
 * Each SDK across an agent restart: one long-lived client calls STS GetCallerIdentity once a
 * second with credentials from a real `corridor agent` process (30 s sessions, IMDSv2 required);
 * a few seconds in, the agent is SIGKILLed (an OOM kill: no shutdown code runs) and a new one
 * starts on the same port with the same --token-key-dir. No round may fail once the new agent
 * serves, and only the rounds of the seconds it was down may fail at all.
 *
 * The Go SDK v2 keeps its IMDSv2 token for the token's TTL (6 h) and sends it again to the new
 * agent: with the key on the node it is accepted, and the new agent mints no token at all. Each
 * client runs a second time with a memory key (--token-key-dir ''), the agent without the fix:
 * there the new agent answers Go's cached token with 401, and Go fetches a new token and retries
 * (so no round fails either way; the key directory saves the 401 and the extra PUT). botocore,
 * the JS SDK and the Java SDK v2's InstanceProfileCredentialsProvider (which, unlike the Java
 * SDK's separate Ec2MetadataClient, has no token cache) fetch a token for every credential
 * refresh, so for them the key directory makes no difference.
 *
 * The Go and Java peers call from 127.0.0.1 (they cannot pick a source address), botocore and
 * the JS SDK from 127.0.0.2: the agent knows a pod at each.
 */

const ROUNDS = 40;
const INTERVAL_MS = 1000;
/** Rounds served by the first agent (after the client's first credentials) before the kill. */
const BEFORE_KILL_MS = 3000;

type Mode = 'key dir' | 'memory key';

interface RestartClient {
  peer: string;
  /** Keeps its IMDSv2 token across credential refreshes (and so sends it to the new agent). */
  cachesToken: boolean;
  /** Why it cannot run, when it cannot; else how to run it against an agent and STS. */
  runner: { ok: true; run(imdsUrl: string, stsUrl: string): Promise<ClientResult> } | { ok: false; reason: string };
  /** The two modes may run at once (not for the JS SDK, which sets this process's global agent). */
  parallel: boolean;
}

/** A program peer (Go, Java, botocore) as a runner: its loop arguments after --sts-endpoint. */
function program(build: PeerBuild & { args?: readonly string[] }, loop: readonly string[]): RestartClient['runner'] {
  if (!build.ok) return build;
  return { ok: true, run: (imdsUrl, stsUrl) => runClient(build.path, [...(build.args ?? []), '--sts-endpoint', stsUrl, ...loop], podEnv(imdsUrl)) };
}

const BOTOCORE = fileURLToPath(new URL('./botocore_client.py', import.meta.url));

function clients(t: Test): RestartClient[] {
  return [
    {
      peer: 'aws-sdk-go-v2',
      cachesToken: true,
      parallel: true,
      runner: program(buildPeer(t, 'build-go-peer.sh'), ['--rounds', String(ROUNDS), '--interval', `${INTERVAL_MS}ms`]),
    },
    {
      peer: 'aws-sdk-java-v2',
      // InstanceProfileCredentialsProvider PUTs for a token in every refresh.
      cachesToken: false,
      parallel: true,
      runner: program(buildPeer(t, 'build-java-peer.sh'), ['--rounds', String(ROUNDS), '--interval-ms', String(INTERVAL_MS)]),
    },
    {
      peer: 'botocore',
      cachesToken: false,
      parallel: true,
      runner: program(
        hasTool('python3', ['-c', 'import boto3, botocore'])
          ? { ok: true, path: 'python3', args: [BOTOCORE, '--source-ip', '127.0.0.2'] }
          : { ok: false, reason: 'python3 with boto3 is not installed (bash scripts/install-python-peers.sh)' },
        // botocore's refresh windows at the agent's 1/120 scale, as in botocore.peer.ts.
        ['--rounds', String(ROUNDS), '--interval', String(INTERVAL_MS / 1000), '--time-scale', String(1 / 120)],
      ),
    },
    {
      peer: 'aws-sdk-js-v3',
      cachesToken: false,
      parallel: false,
      runner: { ok: true, run: (imdsUrl, stsUrl) => runJsSdkAsPod('127.0.0.2', imdsUrl, stsUrl, ROUNDS, INTERVAL_MS) },
    },
  ];
}

/** corridor_requests_total by route and code, from an agent's /metrics. */
async function requestCounts(adminPort: number): Promise<(route: string, code: number) => number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  return (route, code) => Number(new RegExp(`corridor_requests_total\\{route="${route}",code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

interface AgentCounts {
  /** Token PUTs answered 200: IMDSv2 tokens minted. */
  tokens: number;
  /** Credential documents served (GET .../security-credentials/<role>, 200). */
  credentials: number;
  /** Credential GETs (the role list or the document) refused with 401: a token it does not accept. */
  refused: number;
}

async function counts(adminPort: number): Promise<AgentCounts> {
  const count = await requestCounts(adminPort);
  return {
    tokens: count('token', 200),
    credentials: count('credentials', 200),
    refused: count('credentials', 401) + count('credentials-list', 401),
  };
}

interface RestartRun {
  mode: Mode;
  result: ClientResult;
  killedAt: number;
  /** When the new agent had synced its pods and namespaces, so served the pod again. */
  servingAt: number;
  /** What the first agent had answered just before the kill. */
  first: AgentCounts;
  /** What the new agent answered, read after the client's last round. */
  second: AgentCounts;
}

/** One client's loop across an agent restart, with the key in a directory or in memory only. */
async function runAcrossRestart(t: Test, client: RestartClient & { runner: { ok: true } }, mode: Mode): Promise<RestartRun> {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const kube = await fakeKubeApi(t, {
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/role': ROLE }),
      makePod({ name: 'loopback-client', namespace: 'gha', ip: '127.0.0.1', nodeName: 'node-a' }),
      makePod({ name: 'sdk-client', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'corridor-restart-peer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  // One pair of ports for both agents: the new one listens where the pod's client already calls.
  const settings: AgentProcessSettings = {
    port: await freePort(),
    adminPort: await freePort(),
    kubeconfig: join(dir, 'kubeconfig'),
    stsUrl: sts.url,
    tokenKeyDir: mode === 'key dir' ? join(dir, 'keys') : '',
    flags: ['--require-imdsv2', ...ROLLOVER_FLAGS],
  };
  const start = async (): Promise<AgentProcess> => {
    const agent = spawnAgent(t, settings);
    await within(agent.serving, 30_000, 'the agent to serve');
    return agent;
  };

  const first = await start();
  const running = client.runner.run(`http://127.0.0.1:${settings.port}`, sts.url);
  // A client that dies early (it printed its result, or none) must not leave this waiting.
  const ended = running.then(() => new Error(`${client.peer} ended before the agent was killed`), (error: unknown) => error);
  const served = await Promise.race([within(first.logged('credentials served'), 60_000, `${client.peer} to get credentials`), ended]);
  if (served instanceof Error) throw served;
  await delay(BEFORE_KILL_MS);

  const firstCounts = await counts(settings.adminPort);
  const exited = once(first.child, 'exit');
  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  await within(exited, 10_000, 'the killed agent to exit');
  await start();
  const servingAt = Date.now();

  const result = await running;
  return { mode, result, killedAt, servingAt, first: firstCounts, second: await counts(settings.adminPort) };
}

/** The rounds that began before the kill, while the agent was down, and once the new one served. */
function phases(run: RestartRun) {
  const at = (round: ClientRound) => round.at ?? Number.NaN;
  return {
    before: run.result.rounds.filter((r) => at(r) < run.killedAt),
    down: run.result.rounds.filter((r) => at(r) >= run.killedAt && at(r) < run.servingAt),
    after: run.result.rounds.filter((r) => at(r) >= run.servingAt),
  };
}

function summary(client: string, run: RestartRun): string {
  const { before, down, after } = phases(run);
  const failed = (rounds: ClientRound[]) => rounds.filter((r) => r.error).length;
  return (
    `${client}, ${run.mode}: ${run.result.rounds.length} rounds, ${run.result.failures} failed ` +
    `(${failed(before)} before the kill, ${failed(down)} of ${down.length} while down, ${failed(after)} of ${after.length} after); ` +
    `down ${((run.servingAt - run.killedAt) / 1000).toFixed(1)} s; ` +
    `new agent: ${run.second.tokens} tokens minted, ${run.second.credentials} credential documents served, ${run.second.refused} refused (401); ` +
    `first agent: ${run.first.tokens} tokens, ${run.first.credentials} documents`
  );
}

/** What holds in both modes: the client worked before the kill and only the downtime's rounds could fail. */
function assertSurvived(t: Test, run: RestartRun): void {
  const { before, after } = phases(run);
  const downtimeMs = run.servingAt - run.killedAt;
  t.equal(run.result.rounds.length, ROUNDS, `all ${ROUNDS} rounds ran`);
  t.ok(run.result.rounds.every((r) => typeof r.at === 'number'), 'every round says when it began');
  t.ok(before.length >= 2 && before.every((r) => r.arn === EXPECTED_ARN), `${before.length} rounds before the kill, all as the pod's role`);
  t.ok(after.length >= 15, `${after.length} rounds after the new agent served`);
  const failedAfter = after.filter((r) => r.error);
  t.equal(failedAfter.length, 0, `no round failed once the new agent served (${failedAfter[0]?.error ?? 'none'})`);
  t.ok(after.every((r) => r.error || r.arn === EXPECTED_ARN), 'every round after it as the pod\'s role');
  t.ok(run.second.credentials >= 1, `the client came back for credentials (${run.second.credentials} documents from the new agent)`);
  // A round that began just before the kill may still have been waiting on the old agent.
  const bound = Math.ceil(downtimeMs / INTERVAL_MS) + 1;
  t.ok(run.result.failures <= bound, `${run.result.failures} failed rounds, at most the ${bound} of the ${(downtimeMs / 1000).toFixed(1)} s the agent was down`);
  t.ok(downtimeMs < 15_000, `the agent was down ${(downtimeMs / 1000).toFixed(1)} s`);
}

t.test('SDK clients keep getting credentials across an agent OOM kill and restart', async (t) => {
  const ran: string[] = [];
  reportPeerWhenPassing(t, 'agent-restart', () => (ran.length ? `with ${ran.join(', ')}` : undefined));

  for (const client of clients(t)) {
    if (!client.runner.ok) {
      t.test(client.peer, { skip: `${client.peer}: ${client.runner.reason}` }, () => {});
      continue;
    }
    const runnable = client as RestartClient & { runner: { ok: true } };
    await t.test(client.peer, async (t) => {
      const modes: Mode[] = ['key dir', 'memory key'];
      const runs = client.parallel
        ? await Promise.all(modes.map((mode) => runAcrossRestart(t, runnable, mode)))
        : [await runAcrossRestart(t, runnable, modes[0]!), await runAcrossRestart(t, runnable, modes[1]!)];
      const [kept, lost] = runs as [RestartRun, RestartRun];
      for (const run of runs) t.comment(summary(client.peer, run));

      t.test('with --token-key-dir: no failed round once the new agent serves', async (t) => {
        assertSurvived(t, kept);
        if (client.cachesToken) {
          t.equal(kept.second.tokens, 0, 'the new agent minted no token: the SDK\'s cached token was accepted');
          t.equal(kept.second.refused, 0, 'and nothing was refused');
        } else {
          t.ok(kept.second.tokens >= 1, `the SDK asked the new agent for ${kept.second.tokens} tokens (one per refresh), as it always does`);
          t.equal(kept.second.refused, 0, 'nothing was refused');
        }
      });

      t.test('with a memory key (--token-key-dir \'\'): the comparison without the fix', async (t) => {
        // Every client recovers by itself: what the key directory changes is whether the new
        // agent refuses a token it did not sign.
        assertSurvived(t, lost);
        if (client.cachesToken) {
          t.ok(lost.second.refused >= 1, `the new agent answered the cached token with 401 (${lost.second.refused} times)`);
          t.ok(lost.second.tokens >= 1, `then the SDK fetched a new token (${lost.second.tokens} minted), where with the key directory it needed none`);
        } else {
          t.equal(lost.second.refused, 0, 'nothing refused: a new token for every refresh never meets the lost key');
        }
      });
    });
    ran.push(client.peer);
  }
});
