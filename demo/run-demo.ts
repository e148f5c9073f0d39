import http from 'node:http';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { parseAgentConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import { startAgent, type RunningAgent } from '../src/main.js';
import { makeNamespace, makePod, startFakeKubeApi, type FakeKubeApi } from './fake-kube-api.js';
import { loopbackAgentFlags, writeTempKubeconfig } from './loopback.js';
import { startFakeSts, type FakeSts } from './fake-sts.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  logLevel: string;
  out: (line: string) => void;
}

interface DemoPod {
  namespace: string;
  name: string;
  ip: string;
  annotations: Record<string, string>;
  /** What this pod shows. */
  story: string;
}

interface DemoOutcome {
  pod: DemoPod;
  /** The assumed-role ARN STS says the served credentials belong to, if any were served. */
  callerArn: string | undefined;
  expiration: Date | undefined;
  error: string | undefined;
  why: string;
}

export interface RunningDemo {
  outcomes: DemoOutcome[];
  agent: RunningAgent;
  stop(): Promise<void>;
}

const NODE = 'demo-node';
const ACCOUNT = '123456789012';
const STATIC_NODE_CREDENTIALS = { accessKeyId: 'AKIADEMONODEROLE0000', secretAccessKey: 'demo-node-secret' };

const DEMO_PODS: readonly DemoPod[] = [
  { namespace: 'gha', name: 'spark-driver', ip: '127.0.0.2', annotations: {}, story: 'no annotation: gets the corridor\'s default role' },
  {
    namespace: 'gha',
    name: 'spark-writer',
    ip: '127.0.0.3',
    annotations: { 'iam.amazonaws.com/role': 'spark-writer' },
    story: 'picks spark-writer, allowed by the glob spark-*',
  },
  {
    namespace: 'gha1',
    name: 'intruder',
    ip: '127.0.0.4',
    annotations: { 'iam.amazonaws.com/role': 'spark-etl' },
    story: 'asks for gha\'s role from another corridor',
  },
];

/**
 * The embedded default: a Kubernetes API stand-in (one node, two corridors), an STS stand-in,
 * the real agent on 127.0.0.1, and the AWS SDK for JavaScript's instance-metadata provider
 * fetching credentials as each pod, from the pod's own 127.0.0.x source address.
 */
export async function runDemo(options: DemoOptions): Promise<RunningDemo> {
  const { out } = options;
  const sts: FakeSts = await startFakeSts();
  const kube: FakeKubeApi = await startFakeKubeApi({
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }),
      makeNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' }),
      ...DEMO_PODS.map((p) => makePod({ name: p.name, namespace: p.namespace, ip: p.ip, nodeName: NODE, annotations: p.annotations })),
    ],
  });
  const kubeconfig = writeTempKubeconfig(kube.kubeConfigText(), 'corridor-demo-');
  // The demo runs without root: a memory token key leaves nothing in /var/lib/corridor.
  const flags = loopbackAgentFlags({
    nodeName: NODE,
    kubeconfig: kubeconfig.path,
    stsEndpoint: sts.url,
    baseRoleArn: `arn:aws:iam::${ACCOUNT}:role/`,
    port: options.port,
    adminPort: options.adminPort,
    logLevel: options.logLevel,
  });
  const parsed = parseAgentConfig(flags, {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  // The agent's own identity would come from the node's role; here static keys the STS stand-in accepts.
  const agent = await startAgent(parsed.config, { nodeCredentials: STATIC_NODE_CREDENTIALS, logger: createLogger(options.logLevel), env: {} });
  const cleanup = async () => {
    await agent.close();
    await kube.close();
    await sts.close();
    kubeconfig.remove();
  };
  try {
    await withTimeout(agent.directory.whenReady(), 10_000, 'the agent did not list pods and namespaces within 10 s');
    out(`corridor demo: agent on ${agent.imdsUrl} for node ${NODE}; Kubernetes API stand-in ${kube.url}; STS stand-in ${sts.url}`);
    out('namespaces: gha (role spark-etl, allowed-roles ["spark-*"]), gha1 (role gha1-ingest)\n');
    const outcomes: DemoOutcome[] = [];
    for (const pod of DEMO_PODS) {
      const outcome = await fetchAsPod(pod, agent, sts.url);
      outcomes.push(outcome);
      out(`${pod.namespace}/${pod.name} (${pod.ip}) ${pod.story}`);
      if (outcome.callerArn) out(`  got credentials of ${outcome.callerArn}, expiring ${outcome.expiration?.toISOString()}`);
      else out(`  got no credentials: ${outcome.error}`);
      out(`  why: ${outcome.why}\n`);
    }
    out(`metrics: ${agent.adminUrl}/metrics   explain: ${agent.adminUrl}/debug/explain?ip=127.0.0.2`);
    return { outcomes, agent, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Runs the SDK's IMDS provider from the pod's source address, then asks STS whose credentials they are. */
async function fetchAsPod(pod: DemoPod, agent: RunningAgent, stsUrl: string): Promise<DemoOutcome> {
  const previousAgent = http.globalAgent;
  const previousEndpoint = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  // The SDK's IMDS client uses the global agent: binding it to the pod's IP makes the agent see the pod.
  http.globalAgent = new http.Agent({ localAddress: pod.ip });
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = agent.imdsUrl;
  const why = await explain(agent.adminUrl, pod.ip);
  try {
    const credentials = await fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })();
    const sts = new STSClient({ region: 'us-east-1', endpoint: stsUrl, credentials });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    return { pod, callerArn: identity.Arn, expiration: credentials.expiration, error: undefined, why };
  } catch (error) {
    return { pod, callerArn: undefined, expiration: undefined, error: (error as Error).message, why };
  } finally {
    http.globalAgent.destroy();
    http.globalAgent = previousAgent;
    if (previousEndpoint === undefined) delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
    else process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = previousEndpoint;
  }
}

async function explain(adminUrl: string, ip: string): Promise<string> {
  const res = await fetch(`${adminUrl}/debug/explain?ip=${ip}`);
  const body = (await res.json()) as { reason: string; role: string | null };
  return body.role ? `${body.reason} (${body.role})` : body.reason;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
