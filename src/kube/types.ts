/** What corridor needs to know about a pod, parsed from the Kubernetes object at the edge. */
export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  nodeName: string;
  /** status.podIP, the primary address; undefined until the CNI has set the pod up. */
  ip: string | undefined;
  /**
   * Every address in status.podIPs (dual-stack: one per family), the primary first; empty until
   * the CNI has set the pod up. IPv6 ones in the form a socket's remoteAddress has.
   */
  ips: readonly string[];
  phase: string;
  /** metadata.deletionTimestamp is set: the pod is terminating. */
  terminating: boolean;
  hostNetwork: boolean;
  serviceAccountName: string;
  annotations: Readonly<Record<string, string>>;
}

export interface NamespaceInfo {
  name: string;
  annotations: Readonly<Record<string, string>>;
}

export interface ServiceAccountInfo {
  name: string;
  namespace: string;
  annotations: Readonly<Record<string, string>>;
}

/** Who owns a source IP right now: finished pods never; of several on one IP, the one not terminating; a terminating pod only alone (CNIs reuse IPs fast). */
export type PodLookup =
  | { kind: 'found'; pod: PodInfo }
  | { kind: 'unknown' }
  | { kind: 'ambiguous'; pods: readonly PodInfo[] };

/** The node's view of pods, namespaces and ServiceAccounts, kept current by watches. */
export interface PodDirectory {
  /** Synchronous lookup from the in-memory index: the hot path. A pod without an IP yet owns none. */
  byIp(ip: string): PodLookup;
  /** Like byIp, but an unknown IP waits up to timeoutMs for the watch to deliver it (pod-start race). */
  waitForIp(ip: string, timeoutMs: number): Promise<PodLookup>;
  namespace(name: string): NamespaceInfo | undefined;
  serviceAccount(namespace: string, name: string): ServiceAccountInfo | undefined;
  /**
   * This node's live pods: not hostNetwork, not finished, with or without an IP. A pod is here
   * from the moment it is scheduled, before the CNI gives it an IP (1-3 s later), so that whatever
   * it will need (its STS session) can be prepared while it starts.
   */
  pods(): readonly PodInfo[];
  /**
   * Called after any pod, namespace or ServiceAccount change, with the live pods whose inputs
   * changed: a pod is announced when it is scheduled (no IP yet) and again when it gets its IP.
   * Pods that left are not passed, but their leaving still calls the listener.
   */
  onChange(listener: (pods: readonly PodInfo[]) => void): void;
  /** True once the first list of pods and namespaces (and ServiceAccounts when watched) is in. */
  isReady(): boolean;
}
