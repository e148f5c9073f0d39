import type { CredentialSource } from './source.js';
import type { SessionKey } from './types.js';

// The three interfaces prefetch is built over (kiam's pkg/prefetch shape). They are defined here,
// not taken from kube or access: the pod directory and the access resolver fit them as they are.

/** Tells which pods are on the node: the ones that just changed, and all of them (the pod directory). */
export interface PodAnnouncer<Pod> {
  onChange(listener: (changed: readonly Pod[]) => void): void;
  pods(): readonly Pod[];
}

/** The session a pod's credentials come from; undefined when it may have none (the access resolver). */
export interface RoleFinder<Pod> {
  forPod(pod: Pod): { readonly sessionKey: SessionKey | undefined };
}

/** What prefetch needs of the credentials cache. */
export type PrefetchingCache = Pick<CredentialSource, 'prefetch' | 'retain'>;

export interface PrefetchOptions<Pod> {
  pods: PodAnnouncer<Pod>;
  roles: RoleFinder<Pod>;
  credentials: PrefetchingCache;
}

/**
 * On every change the announcer reports: the changed pods' sessions are assumed in the background,
 * so a pod's first request is a cache hit, and sessions that no pod on the node uses any more are
 * released (their refresh stops).
 */
export function startPrefetch<Pod>({ pods, roles, credentials }: PrefetchOptions<Pod>): void {
  pods.onChange((changed) => {
    for (const pod of changed) {
      const key = roles.forPod(pod).sessionKey;
      if (key) credentials.prefetch(key);
    }
    const inUse: SessionKey[] = [];
    for (const pod of pods.pods()) {
      const key = roles.forPod(pod).sessionKey;
      if (key) inUse.push(key);
    }
    credentials.retain(inUse);
  });
}
