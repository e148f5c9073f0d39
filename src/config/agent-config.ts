import type { AnnotationKeys, PolicyOptions } from '../policy/index.js';
// The module, not credentials/index.js: that one loads the AWS SDK, which `corridor iptables` (it reads
// config) must not pay for.
import { DEFAULT_MIN_REMAINING, DEFAULT_REFRESH_BEFORE, DEFAULT_SESSION_DURATION, MIN_REMAINING_FLOOR } from '../credentials/refresh-timing.js';
import { formatDuration, parseDuration } from '../time/index.js';
import { CREDENTIAL_MODES, SESSION_SCOPES, type CredentialMode, type SessionScope } from '../credentials/types.js';
import { parseFlags, pickFlags, type FlagName, type FlagSpec, type FlagValues } from './flags.js';
import { parseHostIpv6 } from './host-ipv6.js';
import { KUBE_API_CONTENT_TYPES, PROTOBUF_CONTENT_TYPE, type KubeApiContentType } from '../kube/api/transport-types.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A label-style key, as the API server accepts for taints: [DNS subdomain/]name (name at most 63 characters). */
const TAINT_KEY = /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export const DEFAULT_PASSTHROUGH_PATHS = [
  '/latest/meta-data/placement/region',
  '/latest/meta-data/placement/availability-zone',
  '/latest/meta-data/placement/availability-zone-id',
  '/latest/meta-data/instance-id',
  '/latest/meta-data/instance-type',
  '/latest/meta-data/local-ipv4',
  '/latest/dynamic/instance-identity/document',
];

/** The one table of agent options: flag, env var (derived) and default. */
export const AGENT_FLAGS = [
  { name: 'node-name', kind: 'string', required: true, help: 'this node\'s name; pods are watched with spec.nodeName=<it>' },
  { name: 'host-ip', kind: 'string', required: true, help: 'address the metadata server binds to (the iptables DNAT target)' },
  {
    name: 'host-ipv6',
    kind: 'string',
    emptyMeans: 'no IPv6 address',
    help: 'the node\'s IPv6 address (or status.hostIPs, of which the IPv6 one is taken): the metadata server listens there too, the ip6tables DNAT target',
  },
  { name: 'port', kind: 'port', default: '8181', help: 'metadata server port' },
  { name: 'admin-host', kind: 'string', default: '0.0.0.0', help: 'address of the admin server (/metrics, /healthz, /readyz, /debug/explain)' },
  { name: 'admin-port', kind: 'port', default: '9181', help: 'admin server port' },
  { name: 'kubeconfig', kind: 'string', help: 'kubeconfig file; default: in-cluster, then ~/.kube/config' },
  { name: 'base-role-arn', kind: 'string', help: 'prefix for short role names, e.g. arn:aws:iam::123456789012:role/' },
  { name: 'sts-region', kind: 'string', default: 'us-east-1', help: 'region of the STS endpoint (AWS_REGION is used when set and this flag is not)' },
  { name: 'sts-endpoint', kind: 'string', help: 'STS endpoint URL override (VPC endpoint, tests)' },
  {
    name: 'credential-mode',
    kind: 'string',
    default: 'node-role',
    choices: CREDENTIAL_MODES,
    help:
      'how sessions are had: node-role (AssumeRole as the node\'s own role; roles trust it; at most 1h) or web-identity ' +
      '(AssumeRoleWithWebIdentity with a token of the pod\'s own ServiceAccount; roles trust the cluster\'s OIDC provider; no AWS credentials on the node)',
  },
  {
    name: 'token-audience',
    kind: 'string',
    default: 'sts.amazonaws.com',
    help: 'web-identity mode: the audience of the ServiceAccount tokens the agent requests (the IAM OIDC provider\'s client ID)',
  },
  {
    name: 'token-expiration',
    kind: 'duration',
    default: '10m',
    help: 'web-identity mode: the lifetime the agent asks for its pods\' tokens (each is used at once; the API server\'s minimum is 10m)',
  },
  {
    name: 'token-request-as-node',
    kind: 'boolean',
    default: 'false',
    help:
      'web-identity mode: request tokens as this node (constrained impersonation, impersonate:associated-node, Kubernetes 1.36+), ' +
      'so the API server refuses tokens for pods on other nodes',
  },
  {
    name: 'session-duration',
    kind: 'duration',
    default: DEFAULT_SESSION_DURATION,
    help: 'requested STS session length: at most 1h in node-role mode (role chaining), 12h in web-identity mode (up to the role\'s MaxSessionDuration)',
  },
  { name: 'refresh-before', kind: 'duration', default: DEFAULT_REFRESH_BEFORE, help: 'start renewing a session this long before it expires' },
  {
    name: 'min-remaining',
    kind: 'duration',
    default: DEFAULT_MIN_REMAINING,
    help: `never serve credentials with less lifetime left than this (at least ${MIN_REMAINING_FLOOR}: below it botocore signs with expired keys)`,
  },
  {
    name: 'allow-unsafe-min-remaining',
    kind: 'boolean',
    default: 'false',
    help:
      `accept a --min-remaining below ${MIN_REMAINING_FLOOR} ` +
      '(unsafe: botocore, boto3 and the awscli then sign with expired keys; for tests with short sessions)',
  },
  {
    name: 'pod-lookup-timeout',
    kind: 'duration',
    default: '1s',
    zeroMeans: 'answer an unseen IP at once',
    help: 'how long a request from an unseen IP waits for the pod watch (0 = answer it at once, without waiting)',
  },
  {
    name: 'kube-start-jitter',
    kind: 'duration',
    default: '200ms',
    zeroMeans: 'list at once',
    help:
      'the first Kubernetes lists wait a random delay of up to this long, so agents started together do not hit the API server at once ' +
      '(it adds to the time a new node waits for the agent; 0 = list at once)',
  },
  {
    name: 'kube-api-content-type',
    kind: 'string',
    default: PROTOBUF_CONTENT_TYPE,
    choices: KUBE_API_CONTENT_TYPES,
    help: 'what the agent\'s lists and watches ask the API server for: protobuf (JSON stays the fallback a server may answer) or application/json only',
  },
  { name: 'imds-upstream', kind: 'string', default: 'http://169.254.169.254', help: 'the real instance metadata service, for allowlisted paths only' },
  { name: 'passthrough-paths', kind: 'list', default: DEFAULT_PASSTHROUGH_PATHS.join(','), help: 'comma-separated metadata paths proxied to the real IMDS' },
  { name: 'rate-limit', kind: 'integer', default: '100', help: 'metadata requests per second one pod may make (token bucket; 0 turns the limit off)' },
  { name: 'rate-limit-burst', kind: 'integer', default: '500', help: 'requests one pod may make at once before the rate limit applies' },
  {
    name: 'startup-taint',
    kind: 'string',
    emptyMeans: 'leave taints alone',
    help: 'the start-up taint (its key) this agent removes from its own node once it serves, so no pod starts there first; unset: none',
  },
  {
    name: 'handover-timeout',
    kind: 'duration',
    default: '15s',
    zeroMeans: 'stop serving at once',
    help:
      'on SIGTERM, keep serving until another agent listens on the metadata port (the successor of an upgrade or pod delete), ' +
      'at most this long (0 = stop at once); keep it under the pod\'s terminationGracePeriodSeconds',
  },
  {
    name: 'token-key-dir',
    kind: 'string',
    default: '/var/lib/corridor',
    emptyMeans: 'a memory key only',
    help: 'node directory holding the IMDSv2 token signing keys, so tokens survive restarts ("" = a memory key only)',
  },
  { name: 'require-imdsv2', kind: 'boolean', default: 'false', help: 'refuse metadata GETs without an IMDSv2 token (401)' },
  { name: 'service-account-roles', kind: 'boolean', default: 'false', help: 'let a ServiceAccount annotation pick the role (watches ServiceAccounts)' },
  {
    name: 'session-tags',
    kind: 'boolean',
    default: 'false',
    help: 'tag sessions with kubernetes-namespace and kubernetes-node, and kubernetes-pod in pod scope (needs sts:TagSession)',
  },
  {
    name: 'session-scope',
    kind: 'string',
    default: 'namespace',
    choices: SESSION_SCOPES,
    help:
      'who shares an STS session: namespace (its pods on this node using one role) ' +
      'or pod (one session per pod, its RoleSessionName names the pod: more AssumeRole calls)',
  },
  { name: 'role-annotation', kind: 'string', default: 'iam.amazonaws.com/role', help: 'pod and namespace annotation naming the role' },
  {
    name: 'allowed-roles-annotation',
    kind: 'string',
    default: 'iam.amazonaws.com/allowed-roles',
    help: 'namespace annotation listing the roles its pods may use',
  },
  { name: 'external-id-annotation', kind: 'string', default: 'iam.amazonaws.com/external-id', help: 'namespace annotation with the ExternalId for AssumeRole' },
  {
    name: 'session-policy-annotation',
    kind: 'string',
    default: 'iam.amazonaws.com/session-policy',
    help: 'namespace annotation with an inline IAM policy (JSON) passed to AssumeRole as Policy, narrowing the role',
  },
  {
    name: 'session-policy-arns-annotation',
    kind: 'string',
    default: 'iam.amazonaws.com/session-policy-arns',
    help: 'namespace annotation with a JSON array of managed policy ARNs passed to AssumeRole as PolicyArns',
  },
  { name: 'service-account-role-annotation', kind: 'string', default: 'eks.amazonaws.com/role-arn', help: 'ServiceAccount annotation naming the role' },
  { name: 'log-level', kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'trace, debug, info, warn, error or fatal' },
] as const satisfies readonly FlagSpec[];

export interface AgentConfig {
  nodeName: string;
  hostIp: string;
  /** The node's IPv6 address, where the metadata server listens as well; undefined: none. */
  hostIpv6: string | undefined;
  port: number;
  adminHost: string;
  adminPort: number;
  kubeconfig: string | undefined;
  baseRoleArn: string | undefined;
  stsRegion: string;
  stsEndpoint: string | undefined;
  credentialMode: CredentialMode;
  /** Web-identity mode: the audience of pods' ServiceAccount tokens. */
  tokenAudience: string;
  /** Web-identity mode: the lifetime asked for pods' tokens. */
  tokenExpirationMs: number;
  /** Web-identity mode: request tokens as this node (constrained impersonation). */
  tokenRequestAsNode: boolean;
  sessionDurationMs: number;
  refreshBeforeMs: number;
  minRemainingMs: number;
  podLookupTimeoutMs: number;
  /** Up to this long, at random, before the first Kubernetes lists. */
  kubeStartJitterMs: number;
  kubeApiContentType: KubeApiContentType;
  imdsUpstream: string;
  passthroughPaths: readonly string[];
  /** Per-pod requests per second; 0 means unlimited. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  requireImdsv2: boolean;
  /** The key of the start-up taint removed from this node once the agent serves; undefined: none. */
  startupTaint: string | undefined;
  /** How long a stopping agent keeps serving while no successor listens beside it. */
  handoverTimeoutMs: number;
  /** Where token signing keys live on the node; undefined: a memory key only. */
  tokenKeyDir: string | undefined;
  serviceAccountRoles: boolean;
  sessionTags: boolean;
  sessionScope: SessionScope;
  annotations: AnnotationKeys;
  logLevel: string;
}

export type ConfigResult = { ok: true; config: Readonly<AgentConfig> } | { ok: false; help: boolean; errors: string[] };

export type AgentFlagValues = FlagValues<typeof AGENT_FLAGS>;

const BASE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\w+=,.@-]+\/)*$/;

/** Parses flags and CORRIDOR_* env once, validates everything, and returns a frozen config or every error. */
export function parseAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult {
  const { values, given, errors, help } = parseFlags(AGENT_FLAGS, argv, env);
  const config = agentConfig({ values, given, env }, errors);
  if (help || errors.length > 0) return { ok: false, help, errors };
  return { ok: true, config };
}

/**
 * The agent's config from its parsed flags: what the table alone cannot check (URLs, paths, the
 * order of the durations, the addresses) adds to `errors`; the result is only for when there are none.
 */
export function agentConfig(
  { values, given, env }: { values: AgentFlagValues; given: ReadonlySet<FlagName<typeof AGENT_FLAGS>>; env: NodeJS.ProcessEnv },
  errors: string[],
): Readonly<AgentConfig> {
  const policy = policyOptions(values, errors);
  for (const [name, url] of [['sts-endpoint', values.stsEndpoint], ['imds-upstream', values.imdsUpstream]] as const) {
    if (url !== undefined && !isHttpUrl(url)) errors.push(`--${name}: "${url}" is not an http(s) URL`);
  }
  for (const path of values.passthroughPaths) {
    if (!path.startsWith('/latest/') || /\/iam(\/|$)|user-data|identity-credentials/.test(path)) {
      errors.push(`--passthrough-paths: "${path}" may not be proxied (credentials and user-data never are)`);
    }
  }

  const { sessionDuration, refreshBefore, minRemaining } = values;
  if (!(minRemaining < refreshBefore && refreshBefore < sessionDuration)) {
    errors.push('durations must satisfy min-remaining < refresh-before < session-duration');
  }
  const floorMs = parseDuration(MIN_REMAINING_FLOOR) ?? 0;
  if (minRemaining < floorMs && !values.allowUnsafeMinRemaining) {
    errors.push(
      `--min-remaining: ${formatDuration(minRemaining)} is below the ${MIN_REMAINING_FLOOR} floor: ` +
        'botocore (boto3, the awscli) stretches credentials with less than 10 min plus up to 10 min of jitter left past their expiry ' +
        'and signs with expired keys (--allow-unsafe-min-remaining accepts it anyway)',
    );
  }

  credentialModeErrors(values, errors);

  const hostIpv6 = parseHostIpv6(values.hostIpv6);
  if (!hostIpv6.ok) errors.push(`--host-ipv6: ${hostIpv6.error}`);

  const startupTaint = values.startupTaint || undefined;
  if (startupTaint !== undefined && !TAINT_KEY.test(startupTaint)) {
    errors.push(`--startup-taint: "${startupTaint}" is not a taint key (an optional DNS prefix and a slash, then a name of letters, digits, '-', '_' and '.')`);
  }

  // Every millisecond of it may keep a new node's pods waiting; a minute is surely a mistake.
  if (values.kubeStartJitter > 60_000) errors.push(`--kube-start-jitter: ${formatDuration(values.kubeStartJitter)} is more than 1m (new nodes wait for it)`);

  if (values.rateLimit > 0 && values.rateLimitBurst < 1) errors.push('--rate-limit-burst must be at least 1 when --rate-limit is on');

  const config: AgentConfig = {
    nodeName: values.nodeName,
    hostIp: values.hostIp,
    hostIpv6: hostIpv6.ok ? hostIpv6.address : undefined,
    port: values.port,
    adminHost: values.adminHost,
    adminPort: values.adminPort,
    kubeconfig: values.kubeconfig,
    baseRoleArn: policy.baseRoleArn,
    // AWS_REGION is what the SDKs read; an explicit --sts-region (or CORRIDOR_STS_REGION) wins over it.
    stsRegion: given.has('sts-region') ? values.stsRegion : (env.AWS_REGION ?? values.stsRegion),
    stsEndpoint: values.stsEndpoint,
    credentialMode: values.credentialMode,
    tokenAudience: values.tokenAudience,
    tokenExpirationMs: values.tokenExpiration,
    tokenRequestAsNode: values.tokenRequestAsNode,
    sessionDurationMs: sessionDuration,
    refreshBeforeMs: refreshBefore,
    minRemainingMs: minRemaining,
    podLookupTimeoutMs: values.podLookupTimeout,
    kubeStartJitterMs: values.kubeStartJitter,
    kubeApiContentType: values.kubeApiContentType,
    imdsUpstream: values.imdsUpstream.replace(/\/+$/, ''),
    passthroughPaths: Object.freeze([...values.passthroughPaths]),
    rateLimitPerSecond: values.rateLimit,
    rateLimitBurst: values.rateLimitBurst,
    requireImdsv2: values.requireImdsv2,
    startupTaint,
    handoverTimeoutMs: values.handoverTimeout,
    tokenKeyDir: values.tokenKeyDir || undefined,
    serviceAccountRoles: policy.serviceAccountRoles,
    sessionTags: values.sessionTags,
    sessionScope: values.sessionScope,
    annotations: policy.annotations,
    logLevel: values.logLevel,
  };
  return Object.freeze(config);
}

/** STS's limits per mode: role chaining from the node role caps sessions at 1 h; a web identity's at 12 h (the role's MaxSessionDuration decides below it). */
const MAX_SESSION_MS: Readonly<Record<CredentialMode, number>> = { 'node-role': 3_600_000, 'web-identity': 43_200_000 };
/** The API server refuses a TokenRequest under 10 minutes; the admission policy's cap is the chart's. */
const MIN_TOKEN_MS = 600_000;
const MAX_TOKEN_MS = 3_600_000;

/** What the credential mode allows of the other flags. */
function credentialModeErrors(values: AgentFlagValues, errors: string[]): void {
  const mode = values.credentialMode;
  const max = MAX_SESSION_MS[mode];
  // No floor: tests of rollover ask for seconds-long sessions (STS itself refuses under 15m).
  if (values.sessionDuration > max) {
    const why = mode === 'node-role' ? 'role chaining from the node role caps sessions at 1h' : 'STS grants web identity sessions of at most 12h';
    errors.push(`--session-duration: ${formatDuration(values.sessionDuration)} is more than ${formatDuration(max)} in ${mode} mode (${why})`);
  }
  if (mode !== 'web-identity') return;
  if (values.sessionTags) errors.push('--session-tags: AssumeRoleWithWebIdentity takes no tags (web-identity mode); turn one of them off');
  if (values.tokenExpiration < MIN_TOKEN_MS || values.tokenExpiration > MAX_TOKEN_MS) {
    errors.push(`--token-expiration: ${formatDuration(values.tokenExpiration)} is outside 10m..1h (the API server's minimum; a token is used at once)`);
  }
  if (values.tokenAudience.trim() === '') errors.push('--token-audience: empty');
}

/** The agent's flags that say how policy decides: `explain` and `audit` take them too, to decide as the agent does. */
export const POLICY_FLAGS = pickFlags(AGENT_FLAGS, [
  'base-role-arn',
  'service-account-roles',
  'role-annotation',
  'allowed-roles-annotation',
  'external-id-annotation',
  'session-policy-annotation',
  'session-policy-arns-annotation',
  'service-account-role-annotation',
]);

/**
 * What policy needs, from parsed flags (shared by `agent`, `explain` and `audit`). A --base-role-arn
 * gets the trailing slash short names are appended to; one that is not a role ARN prefix adds an error.
 */
export function policyOptions(values: FlagValues<typeof POLICY_FLAGS>, errors: string[]): PolicyOptions {
  return {
    annotations: Object.freeze({
      role: values.roleAnnotation,
      allowedRoles: values.allowedRolesAnnotation,
      externalId: values.externalIdAnnotation,
      sessionPolicy: values.sessionPolicyAnnotation,
      sessionPolicyArns: values.sessionPolicyArnsAnnotation,
      serviceAccountRole: values.serviceAccountRoleAnnotation,
    }),
    baseRoleArn: baseRoleArn(values.baseRoleArn, errors),
    serviceAccountRoles: values.serviceAccountRoles,
  };
}

function baseRoleArn(text: string | undefined, errors: string[]): string | undefined {
  if (text === undefined) return undefined;
  const prefix = text.endsWith('/') ? text : `${text}/`;
  if (!BASE_ARN.test(prefix)) errors.push(`--base-role-arn: "${text}" is not an IAM role ARN prefix like arn:aws:iam::123456789012:role/`);
  return prefix;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The session cache's settings, taken from the agent config (shared by main and tests). */
export function sessionSettings(config: Readonly<AgentConfig>) {
  return {
    nodeName: config.nodeName,
    sessionDurationMs: config.sessionDurationMs,
    refreshBeforeMs: config.refreshBeforeMs,
    minRemainingMs: config.minRemainingMs,
    sessionTags: config.sessionTags,
  };
}
