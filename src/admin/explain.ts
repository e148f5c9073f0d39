import type { CallerAccess } from '../caller/index.js';
import type { CredentialMode, CredentialSource } from '../credentials/index.js';
import { imdsTime } from '../imds/index.js';
import { serviceAccountSubject } from '../kube/index.js';

export interface Explanation {
  ip: string;
  pod: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  requestedRole: string | null;
  decision: 'allow' | 'deny';
  role: string | null;
  source: string | null;
  reason: string;
  /** How the agent gets sessions: node-role (AssumeRole as the node) or web-identity (the pod's ServiceAccount token). */
  credentialMode: CredentialMode;
  /**
   * Web-identity mode: the `sub` the role's trust policy must name for this pod
   * (system:serviceaccount:<namespace>:<name>); null in node-role mode, where the role trusts the node role.
   */
  trustSubject: string | null;
  /** The pods that share an ambiguous IP (namespace/name); only in the node admin's view. */
  sharedWith?: readonly string[];
  credentials: {
    expiration: string | null;
    lastError: { code: string; message: string; at: string; nextAttemptAt: string | null } | null;
  } | null;
}

/**
 * Who reads an explanation: the node's admin sees everything; a pod asking about itself sees its
 * own decision but not STS's error text (a real AccessDenied names the node's role and instance).
 */
export type ExplainAudience = 'admin' | 'self';

const STS_TEXT_WITHHELD = 'the error text is in the agent\'s log and in explain on the node';

/** Why a pod gets which role, with the state of its session: the troubleshooting answer. */
export function explainAccess(
  access: CallerAccess,
  credentials: CredentialSource | undefined,
  audience: ExplainAudience = 'admin',
  credentialMode: CredentialMode = 'node-role',
): Explanation {
  const { decision, pod } = access;
  const status = access.sessionKey && credentials ? credentials.status(access.sessionKey) : undefined;
  return {
    ip: access.ip,
    pod: pod?.name ?? null,
    namespace: pod?.namespace ?? null,
    serviceAccount: pod?.serviceAccountName ?? null,
    requestedRole: decision.requested ?? null,
    decision: decision.allowed ? 'allow' : 'deny',
    role: decision.allowed ? decision.role.arn : null,
    source: decision.allowed ? decision.source : null,
    reason: decision.allowed ? `role from ${decision.source}` : `${decision.reason}: ${decision.message}`,
    credentialMode,
    trustSubject: credentialMode === 'web-identity' && pod ? serviceAccountSubject(pod.namespace, pod.serviceAccountName) : null,
    ...(audience === 'admin' && access.sharedWith ? { sharedWith: access.sharedWith } : {}),
    credentials: status
      ? {
          expiration: status.session ? imdsTime(status.session.expiration) : null,
          lastError: status.lastFailure
            ? {
                code: status.lastFailure.code,
                message: audience === 'admin' ? status.lastFailure.message : STS_TEXT_WITHHELD,
                at: imdsTime(status.lastFailure.at),
                nextAttemptAt: status.lastFailure.nextAttemptAt !== undefined ? imdsTime(status.lastFailure.nextAttemptAt) : null,
              }
            : null,
        }
      : null,
  };
}
