import { STS_CODE } from './sts-codes.js';
import { AssumeRoleError, type AssumeRequest, type RoleAssumer, type ServiceAccountRef, type Session } from './types.js';

/** A token of a pod's own ServiceAccount, bound to a live pod of it on this node (the kube side implements it). */
export interface ServiceAccountTokens {
  tokenFor(account: ServiceAccountRef): Promise<string>;
}

/** AssumeRoleWithWebIdentity: the STS adapter, or a fake in tests. */
export interface WebIdentitySts {
  assumeWithWebIdentity(request: AssumeRequest, token: string): Promise<Session>;
}

/**
 * The RoleAssumer of web-identity mode: a fresh token of the pod's own ServiceAccount for every
 * STS call (they are short-lived and used at once), then AssumeRoleWithWebIdentity with it. The
 * agent holds no AWS credentials; the role's trust (the cluster's OIDC provider, `sub`
 * system:serviceaccount:<namespace>:<name>) decides, as for IRSA.
 */
export function createWebIdentityAssumer({ tokens, sts }: { tokens: ServiceAccountTokens; sts: WebIdentitySts }): RoleAssumer {
  return {
    async assume(request) {
      const account = request.serviceAccount;
      if (account === undefined) {
        throw new AssumeRoleError('web-identity mode needs the pod\'s ServiceAccount in the session key', STS_CODE.INVALID_RESPONSE, false);
      }
      let token: string;
      try {
        token = await tokens.tokenFor(account);
      } catch (error) {
        throw toTokenRequestError(error, account);
      }
      return sts.assumeWithWebIdentity(request, token);
    },
  };
}

/**
 * A failed TokenRequest as the session cache keeps failures. Every one is retried with backoff
 * (2 s, growing to the cap), not slowly: a refusal (403: RBAC, the admission policy, the node
 * restriction) or a missing pod (404) is often the API server's caches catching up with something
 * created a moment ago (a pod the agent's watch saw first, a binding or policy an install just
 * made), and a new pod must not wait minutes for that. The session cache holds requests back
 * between attempts (isTokenRequestCode), so a pod polling a refused key costs no TokenRequests.
 */
function toTokenRequestError(error: unknown, account: ServiceAccountRef): AssumeRoleError {
  if (error instanceof AssumeRoleError) return error;
  const message = `TokenRequest for serviceaccount ${account.namespace}/${account.name}: ${error instanceof Error ? error.message : String(error)}`;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (status === 403) return new AssumeRoleError(message, STS_CODE.TOKEN_REQUEST_DENIED, true);
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429 && status !== 408) {
    return new AssumeRoleError(message, STS_CODE.TOKEN_REQUEST_INVALID, true);
  }
  return new AssumeRoleError(message, STS_CODE.TOKEN_REQUEST_FAILED, true);
}
