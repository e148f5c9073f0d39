import { Registry } from 'prom-client';
import type { Test } from 'tap';
import { parseAgentConfig, type AgentConfig } from '../../src/config/index.js';
import type { MetadataUpstream, PassthroughUpstream } from '../../src/node-metadata/index.js';
import type { RoleAssumer, WebIdentitySts } from '../../src/credentials/index.js';
import { createLogger } from '../../src/log/index.js';
import { createAgent, type Agent } from '../../src/main.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FakeAssumer } from './fake-assumer.js';
import { FakeTime } from './fake-time.js';
import { sink, type LogLine } from './log-sink.js';
import { ScriptedKube } from './scripted-kube.js';

export interface Built extends Agent {
  /** The cluster the agent watches: change pods, namespaces and ServiceAccounts here. */
  kube: ScriptedKube;
  assumer: FakeAssumer;
  time: FakeTime;
  /** Every JSON log line written so far. */
  logs: LogLine[];
  /** Resolves with the first log line, logged so far or later, that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
  imds: Agent['app']['imds'];
  admin: Agent['app']['admin'];
  resolver: Agent['app']['resolver'];
  config: Readonly<AgentConfig>;
}

export const BASE_ROLE_ARN = 'arn:aws:iam::123456789012:role/';

export interface BuildOptions {
  noBaseRoleArn?: boolean;
  /** The agent has not finished its first lists: build returns before it is ready (kube.releaseLists() makes it). */
  unsynced?: boolean;
  /** Web-identity mode's STS (with --credential-mode web-identity): pods' tokens from the scripted cluster are exchanged there instead of the FakeAssumer. */
  webIdentitySts?: (time: FakeTime, kube: ScriptedKube) => WebIdentitySts;
  /** Who assumes roles instead of the FakeAssumer (e.g. the real STS adapter, pointed at a stand-in on loopback). */
  assumer?: (time: FakeTime) => RoleAssumer;
}

/**
 * The agent as main builds it (createAgent), not listening, with its edges faked: the Kubernetes
 * transport (a scripted cluster), STS (FakeAssumer) and time (FakeTime); closed at the end of the
 * test. The pod index, waiters, policy, session cache and servers are production's.
 * An IP the cluster has not delivered answers at once (--pod-lookup-timeout 0) unless a test asks
 * for a wait and drives it.
 */
export async function build(t: Test, flags: string[] = [], upstream?: PassthroughUpstream & Partial<MetadataUpstream>, options: BuildOptions = {}): Promise<Built> {
  const base = options.noBaseRoleArn ? [] : ['--base-role-arn', BASE_ROLE_ARN];
  const parsed = parseAgentConfig(
    ['--node-name', 'node-a', '--host-ip', '127.0.0.1', ...base, '--pod-lookup-timeout', '0', '--kube-start-jitter', '0', '--token-key-dir', '', ...flags],
    {},
  );
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const logs = sink();
  const time = new FakeTime();
  const kube = new ScriptedKube({ holdLists: options.unsynced === true, now: () => time.now() });
  const assumer = new FakeAssumer(time);
  const agent = await createAgent(parsed.config, {
    kube,
    ...(options.webIdentitySts ? { webIdentitySts: options.webIdentitySts(time, kube) } : { assumer: options.assumer?.(time) ?? assumer }),
    clock: time,
    scheduler: time,
    random: () => 0.5,
    upstream: {
      get: async () => ({ status: 200, body: 'eu-west-1', contentType: 'text/plain' }),
      // The posture Karpenter's nodes have: IMDSv2 required.
      posture: async () => 'imdsv2-required',
      ...upstream,
    },
    logger: createLogger('debug', logs),
    metrics: createMetrics(new Registry(), 'test', { defaultMetrics: false }),
    openFileLimit: undefined,
    sharedBridges: () => [],
    env: {},
  });
  t.teardown(() => agent.close());
  if (!options.unsynced) {
    await agent.directory.whenReady();
    await kube.watching(parsed.config.serviceAccountRoles ? ['pods', 'namespaces', 'serviceaccounts'] : ['pods', 'namespaces']);
  }
  return Object.assign(agent, { ...agent.app, kube, assumer, time, logs: logs.lines, waitForLog: (match: (line: LogLine) => boolean) => logs.waitFor(match) });
}
