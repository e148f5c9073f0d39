import type { Session } from '../credentials/index.js';
import type { PodInfo } from '../kube/index.js';
import type { Logger } from '../log/index.js';

/** Writes the line that ties an AccessKeyId (what CloudTrail shows) to the pods that held it. */
export interface CredentialAudit {
  /**
   * Called for every credential document served: the first time a pod receives a session, one
   * audit line; after that nothing. O(1) with nothing allocated on the repeat (the hot path).
   */
  served(pod: PodInfo, roleArn: string, session: Session, ip: string): void;
}

/**
 * Who has received which session, by session object: an entry goes with its session once the
 * cache replaces it (refresh) or drops it (no pod uses it), so memory stays bounded by the pods
 * each live session has reached. Keyed by pod uid, not by PodInfo: the watch replaces a pod's
 * object on every update, and its IPv4 and IPv6 addresses are one pod.
 */
export function createCredentialAudit(audit: Logger): CredentialAudit {
  const receivedBy = new WeakMap<Session, Set<string>>();
  return {
    served(pod, roleArn, session, ip) {
      let pods = receivedBy.get(session);
      if (pods === undefined) {
        pods = new Set();
        receivedBy.set(session, pods);
      } else if (pods.has(pod.uid)) {
        return;
      }
      pods.add(pod.uid);
      // Never the secret key or the session token: the AccessKeyId alone identifies the session.
      audit.info(
        {
          pod: pod.name,
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccountName,
          node: pod.nodeName,
          ip,
          role: roleArn,
          accessKeyId: session.accessKeyId,
          expiration: new Date(session.expiration).toISOString(),
          assumedRoleArn: session.assumedRoleArn,
        },
        'credentials served',
      );
    },
  };
}
