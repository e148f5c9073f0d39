import type { KubeTransport } from './api/transport-types.js';
import type { PodInfo } from './types.js';

/** A TokenRequest failure of ours: no pod to bind to. `statusCode` 404, as the API server would answer for a pod that is gone. */
class NoPodToBind extends Error {
  readonly statusCode = 404;
  constructor(message: string) {
    super(message);
    this.name = 'NoPodToBind';
  }
}

export interface ServiceAccountTokenOptions {
  transport: Pick<KubeTransport, 'requestToken'>;
  /** This node's live pods (the pod directory's). */
  pods: () => readonly PodInfo[];
  audience: string;
  expirationSeconds: number;
  /** Ask as this node (constrained impersonation); undefined: as the agent's own ServiceAccount. */
  asNode: string | undefined;
}

/**
 * Tokens of pods' own ServiceAccounts, each bound to a live pod of that ServiceAccount on this
 * node: the pod the session is for in pod scope, else any of them (the token only proves that
 * such a pod runs here now; the session outlives it, as a namespace's shared session does).
 * Terminating pods are used only when no other pod is left.
 */
export function createServiceAccountTokens(options: ServiceAccountTokenOptions): {
  tokenFor(account: { namespace: string; name: string; pod?: { uid: string; name: string } }): Promise<string>;
} {
  return {
    async tokenFor(account) {
      const pod = account.pod ?? bindingPod(options.pods(), account.namespace, account.name);
      if (pod === undefined) throw new NoPodToBind(`no live pod of serviceaccount ${account.namespace}/${account.name} on this node to bind a token to`);
      const issued = await options.transport.requestToken({
        namespace: account.namespace,
        serviceAccount: account.name,
        pod: { name: pod.name, uid: pod.uid },
        audience: options.audience,
        expirationSeconds: options.expirationSeconds,
        ...(options.asNode !== undefined ? { asNode: options.asNode } : {}),
      });
      return issued.token;
    },
  };
}

/**
 * The `sub` of a ServiceAccount's tokens (its Kubernetes user name), which an IRSA-style trust
 * policy names: what a role must trust for a pod of that ServiceAccount in web-identity mode.
 */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

function bindingPod(pods: readonly PodInfo[], namespace: string, serviceAccount: string): PodInfo | undefined {
  let fallback: PodInfo | undefined;
  for (const pod of pods) {
    if (pod.namespace !== namespace || pod.serviceAccountName !== serviceAccount) continue;
    if (!pod.terminating) return pod;
    fallback ??= pod;
  }
  return fallback;
}
