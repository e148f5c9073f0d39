import type { CallerAccess } from '../caller/index.js';
import type { CredentialSource } from '../credentials/index.js';
import { imdsTime } from '../imds/index.js';

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
  credentials: {
    expiration: string | null;
    lastError: { code: string; message: string; at: string; nextAttemptAt: string | null } | null;
  } | null;
}

/** Why a pod gets which role, with the state of its session: the troubleshooting answer. */
export function explainAccess(access: CallerAccess, credentials: CredentialSource | undefined): Explanation {
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
    credentials: status
      ? {
          expiration: status.session ? imdsTime(status.session.expiration) : null,
          lastError: status.lastFailure
            ? {
                code: status.lastFailure.code,
                message: status.lastFailure.message,
                at: imdsTime(status.lastFailure.at),
                nextAttemptAt: status.lastFailure.nextAttemptAt !== undefined ? imdsTime(status.lastFailure.nextAttemptAt) : null,
              }
            : null,
        }
      : null,
  };
}
