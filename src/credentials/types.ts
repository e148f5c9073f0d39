/** Temporary credentials from one AssumeRole call. Times are ms since the epoch. */
export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: number;
  /** When corridor received this session from STS. */
  issuedAt: number;
  /** arn:aws:sts::<acct>:assumed-role/<name>/<session>, as STS returned it. */
  assumedRoleArn: string;
}

export interface AssumeRequest {
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  externalId?: string;
  /** An inline session policy (compact JSON): the session gets the role's permissions intersected with it. */
  policy?: string;
  /** Managed session policy ARNs, intersected with the role's permissions like `policy`. */
  policyArns?: readonly string[];
  tags?: Readonly<Record<string, string>>;
  /**
   * Web-identity mode: whose ServiceAccount token to exchange (the pod's own), and the pod to bind
   * it to in pod scope. AssumeRoleWithWebIdentity takes no ExternalId and no Tags.
   */
  serviceAccount?: ServiceAccountRef;
}

/** A pod's ServiceAccount, and in pod scope the pod itself. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
  pod?: { readonly uid: string; readonly name: string };
}

/** Anything that can turn an AssumeRequest into a Session: the STS adapter, or a fake in tests. */
export interface RoleAssumer {
  assume(request: AssumeRequest): Promise<Session>;
}

/** Raised by a RoleAssumer. `code` is STS's error code (AccessDenied, Throttling, ...) or a network code. */
export class AssumeRoleError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** False for errors that retrying soon will not fix (AccessDenied, ValidationError...). */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'AssumeRoleError';
  }
}

/**
 * The `result` label of corridor_sts_calls_total: how one AssumeRole call ended. `too-short`: STS
 * answered, but with a session that has less than min-remaining left, which is never served.
 */
export type StsResult = 'success' | 'error' | 'throttled' | 'access-denied' | 'too-short';

/**
 * Which pods share an STS session: `namespace` (the default), every pod of one namespace on the
 * node that uses the same role and external id; `pod`, each pod its own, named after the pod.
 */
export type SessionScope = 'namespace' | 'pod';

export const SESSION_SCOPES: readonly SessionScope[] = ['namespace', 'pod'];

/**
 * What one cached session is for: (role ARN, namespace, external id, session policy, policy ARNs),
 * and with `--session-scope=pod` the pod too (its uid keys the cache, its name goes into the
 * RoleSessionName). Two namespaces sharing a role with different session policies get different sessions.
 */
export interface SessionKey {
  roleArn: string;
  namespace: string;
  externalId?: string;
  /** Inline session policy as compact JSON (policy normalised it: no raw newline). */
  sessionPolicy?: string;
  /** Managed session policy ARNs, in the namespace's order. */
  policyArns?: readonly string[];
  pod?: { readonly uid: string; readonly name: string };
  /** Web-identity mode: the pod's ServiceAccount, whose token the session is assumed with (its trust names it). */
  serviceAccount?: string;
}

/**
 * How the agent gets sessions: `node-role`, AssumeRole signed as the node's own role (role
 * chaining: at most 1 h); `web-identity`, AssumeRoleWithWebIdentity with a token of the pod's own
 * ServiceAccount (no AWS credentials on the node; as long as the role's MaxSessionDuration).
 */
export type CredentialMode = 'node-role' | 'web-identity';

export const CREDENTIAL_MODES: readonly CredentialMode[] = ['node-role', 'web-identity'];
