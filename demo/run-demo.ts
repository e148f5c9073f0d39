import http from 'node:http';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { parseAgentConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import { startAgent, type RunningAgent } from '../src/main.js';
import { makeNamespace, makePod, makeServiceAccount, startFakeKubeApi, type FakeKubeApi } from './fake-kube-api.js';
import { loopbackAgentFlags, writeTempKubeconfig } from './loopback.js';
import { startFakeSts, type FakeSts } from './fake-sts.js';

export interface DemoOptions {
  /** The node-role agent's ports; the web-identity agent takes free ones. */
  port: number;
  adminPort: number;
  logLevel: string;
  out: (line: string) => void;
}

type DemoMode = 'node-role' | 'web-identity';

interface DemoPod {
  namespace: string;
  name: string;
  ip: string;
  serviceAccount: string;
  annotations: Record<string, string>;
  /** What this pod shows. */
  story: string;
  /** The role (its name) the pod should end up with in each mode; undefined: none. */
  expects: Readonly<Record<DemoMode, string | undefined>>;
}

interface DemoOutcome {
  mode: DemoMode;
  pod: DemoPod;
  /** The assumed-role ARN STS says the served credentials belong to, if any were served. */
  callerArn: string | undefined;
  expiration: Date | undefined;
  error: string | undefined;
  why: string;
  /** The role name the pod should have got in this mode; undefined: none. */
  expectedRole: string | undefined;
}

export interface RunningDemo {
  /** Every pod in node-role mode, then every pod in web-identity mode. */
  outcomes: DemoOutcome[];
  /** The node-role agent (on the given ports). */
  agent: RunningAgent;
  /** The web-identity agent (on free ports). */
  webIdentityAgent: RunningAgent;
  stop(): Promise<void>;
}

const NODE = 'demo-node';
const ACCOUNT = '123456789012';
const ROLE_ARN = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const STATIC_NODE_CREDENTIALS = { accessKeyId: 'AKIADEMONODEROLE0000', secretAccessKey: 'demo-node-secret' };
/** The audience of the pods' tokens: the IAM OIDC provider's client ID, as for IRSA. */
const AUDIENCE = 'sts.amazonaws.com';

const DEMO_PODS: readonly DemoPod[] = [
  {
    namespace: 'gha',
    name: 'spark-driver',
    ip: '127.0.0.2',
    serviceAccount: 'spark',
    annotations: {},
    story: 'no annotation: gets the corridor\'s default role',
    expects: { 'node-role': 'spark-etl', 'web-identity': 'spark-etl' },
  },
  {
    namespace: 'gha',
    name: 'spark-writer',
    ip: '127.0.0.3',
    serviceAccount: 'spark',
    annotations: { 'iam.amazonaws.com/role': 'spark-writer' },
    story: 'picks spark-writer, allowed by the glob spark-*',
    expects: { 'node-role': 'spark-writer', 'web-identity': 'spark-writer' },
  },
  {
    namespace: 'gha',
    name: 'notebook',
    ip: '127.0.0.5',
    serviceAccount: 'notebook',
    annotations: {},
    story: 'corridor\'s policy allows it the default role, but the role trusts only ServiceAccount gha/spark',
    expects: { 'node-role': 'spark-etl', 'web-identity': undefined },
  },
  {
    namespace: 'gha1',
    name: 'intruder',
    ip: '127.0.0.4',
    serviceAccount: 'default',
    annotations: { 'iam.amazonaws.com/role': 'spark-etl' },
    story: 'asks for gha\'s role from another corridor',
    expects: { 'node-role': undefined, 'web-identity': undefined },
  },
];

/** Each role's trust in web-identity mode: the ServiceAccounts whose tokens it accepts (an IRSA trust policy's `sub`). */
const ROLE_TRUST: ReadonlyMap<string, readonly string[]> = new Map([
  ['spark-etl', ['system:serviceaccount:gha:spark']],
  ['spark-writer', ['system:serviceaccount:gha:spark']],
  ['gha1-ingest', ['system:serviceaccount:gha1:default']],
]);

/**
 * The embedded default: a Kubernetes API stand-in (one node, two corridors) that also issues
 * pods' ServiceAccount tokens, an STS stand-in that trusts the node role and the stand-in's
 * issuer, and two real agents on 127.0.0.1, one per credential mode; the AWS SDK for JavaScript's
 * instance-metadata provider fetches credentials as each pod, from the pod's own 127.0.0.x source
 * address, from each agent in turn.
 */
export async function runDemo(options: DemoOptions): Promise<RunningDemo> {
  const { out } = options;
  const kube: FakeKubeApi = await startFakeKubeApi({
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }),
      makeNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' }),
      ...[...new Set(DEMO_PODS.map((p) => `${p.namespace}/${p.serviceAccount}`))].map((key) => {
        const [namespace = '', name = ''] = key.split('/');
        return makeServiceAccount(namespace, name);
      }),
      ...DEMO_PODS.map((p) =>
        makePod({ name: p.name, namespace: p.namespace, ip: p.ip, nodeName: NODE, serviceAccountName: p.serviceAccount, annotations: p.annotations }),
      ),
    ],
  });
  const issuer = kube.tokenIssuer;
  const sts: FakeSts = await startFakeSts({
    webIdentity: {
      issuer: issuer.issuer,
      audiences: [AUDIENCE],
      jwks: () => issuer.jwks(),
      roles: new Map([...ROLE_TRUST].map(([name, sub]) => [ROLE_ARN(name), { sub, aud: AUDIENCE }])),
    },
  });
  const kubeconfig = writeTempKubeconfig(kube.kubeConfigText(), 'corridor-demo-');
  const agents: RunningAgent[] = [];
  const cleanup = async () => {
    for (const agent of agents.reverse()) await agent.close();
    await kube.close();
    await sts.close();
    kubeconfig.remove();
  };
  try {
    // The demo runs without root: a memory token key leaves nothing in /var/lib/corridor.
    const flags = (port: number, adminPort: number) =>
      loopbackAgentFlags({
        nodeName: NODE,
        kubeconfig: kubeconfig.path,
        stsEndpoint: sts.url,
        baseRoleArn: ROLE_ARN(''),
        port,
        adminPort,
        logLevel: options.logLevel,
      });
    // The node-role agent's own identity would come from the node's role; here static keys the STS stand-in accepts.
    const nodeRole = await startDemoAgent(flags(options.port, options.adminPort), { nodeCredentials: STATIC_NODE_CREDENTIALS, logLevel: options.logLevel });
    agents.push(nodeRole);
    // The web-identity agent has no AWS credentials at all: pods' tokens are its only way in, and sessions may last 12 h.
    const webIdentity = await startDemoAgent([...flags(0, 0), '--credential-mode', 'web-identity', '--token-audience', AUDIENCE, '--session-duration', '12h'], {
      logLevel: options.logLevel,
    });
    agents.push(webIdentity);
    out(`corridor demo: node ${NODE}; Kubernetes API stand-in ${kube.url} (ServiceAccount issuer ${issuer.issuer}); STS stand-in ${sts.url}`);
    out('namespaces: gha (role spark-etl, allowed-roles ["spark-*"]), gha1 (role gha1-ingest)');
    out('roles in web-identity mode trust: spark-etl and spark-writer ServiceAccount gha/spark, gha1-ingest gha1/default\n');
    const outcomes: DemoOutcome[] = [];
    for (const [mode, agent, what] of [
      ['node-role', nodeRole, 'AssumeRole as the node\'s role; every role trusts the node role; sessions of at most 1 h'],
      ['web-identity', webIdentity, 'no AWS credentials on the node: each pod\'s own ServiceAccount token, AssumeRoleWithWebIdentity; sessions up to 12 h'],
    ] as const) {
      out(`== ${mode}: agent on ${agent.imdsUrl} (${what})\n`);
      for (const pod of DEMO_PODS) {
        const outcome = await fetchAsPod(pod, mode, agent, sts.url);
        outcomes.push(outcome);
        out(`${pod.namespace}/${pod.name} (${pod.ip}, serviceaccount ${pod.serviceAccount}) ${pod.story}`);
        if (outcome.callerArn) out(`  got credentials of ${outcome.callerArn}, expiring ${outcome.expiration?.toISOString()}`);
        else out(`  got no credentials: ${outcome.error}`);
        out(`  why: ${outcome.why}\n`);
      }
    }
    out(`node-role agent:    metrics ${nodeRole.adminUrl}/metrics   explain ${nodeRole.adminUrl}/debug/explain?ip=127.0.0.2`);
    out(`web-identity agent: metrics ${webIdentity.adminUrl}/metrics   explain ${webIdentity.adminUrl}/debug/explain?ip=127.0.0.5`);
    return { outcomes, agent: nodeRole, webIdentityAgent: webIdentity, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** An agent from `corridor agent` flags, once it has listed pods and namespaces. */
async function startDemoAgent(
  flags: string[],
  options: { logLevel: string; nodeCredentials?: typeof STATIC_NODE_CREDENTIALS },
): Promise<RunningAgent> {
  const parsed = parseAgentConfig(flags, {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const agent = await startAgent(parsed.config, {
    ...(options.nodeCredentials ? { nodeCredentials: options.nodeCredentials } : {}),
    logger: createLogger(options.logLevel),
    env: {},
  });
  try {
    await withTimeout(agent.directory.whenReady(), 10_000, 'the agent did not list pods and namespaces within 10 s');
  } catch (error) {
    await agent.close();
    throw error;
  }
  return agent;
}

/** Runs the SDK's IMDS provider from the pod's source address, then asks STS whose credentials they are. */
async function fetchAsPod(pod: DemoPod, mode: DemoMode, agent: RunningAgent, stsUrl: string): Promise<DemoOutcome> {
  const expectedRole = pod.expects[mode];
  const previousAgent = http.globalAgent;
  const previousEndpoint = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  // The SDK's IMDS client uses the global agent: binding it to the pod's IP makes the agent see the pod.
  http.globalAgent = new http.Agent({ localAddress: pod.ip });
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = agent.imdsUrl;
  try {
    const credentials = await fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })();
    const sts = new STSClient({ region: 'us-east-1', endpoint: stsUrl, credentials });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    const why = await explain(agent.adminUrl, pod.ip);
    return { mode, pod, callerArn: identity.Arn, expiration: credentials.expiration, error: undefined, why, expectedRole };
  } catch (error) {
    // Explained after the attempt: its session's failure (STS's answer) is then in the explanation.
    const why = await explain(agent.adminUrl, pod.ip);
    return { mode, pod, callerArn: undefined, expiration: undefined, error: (error as Error).message, why, expectedRole };
  } finally {
    http.globalAgent.destroy();
    http.globalAgent = previousAgent;
    if (previousEndpoint === undefined) delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
    else process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = previousEndpoint;
  }
}

/** The agent's /debug/explain, in a line: the decision, the ServiceAccount the role must trust (web-identity mode), STS's refusal if any. */
async function explain(adminUrl: string, ip: string): Promise<string> {
  const res = await fetch(`${adminUrl}/debug/explain?ip=${ip}`);
  const body = (await res.json()) as {
    reason: string;
    role: string | null;
    trustSubject: string | null;
    credentials: { lastError: { code: string; message: string } | null } | null;
  };
  const decision = body.role ? `${body.reason} (${body.role})` : body.reason;
  const trust = body.trustSubject && body.role ? `; the role must trust ${body.trustSubject}` : '';
  const failure = body.credentials?.lastError;
  return `${decision}${trust}${failure ? `; STS refused: ${failure.code}: ${failure.message}` : ''}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
