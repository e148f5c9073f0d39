import type { NamespaceInfo, PodDirectory, PodInfo, PodLookup, ServiceAccountInfo } from '../../src/kube/index.js';

let uid = 0;

/** Every address a pod owns: status.podIPs, or its primary IP when that list is empty. */
function addresses(pod: PodInfo): readonly string[] {
  if (pod.ips.length > 0) return pod.ips;
  return pod.ip === undefined ? [] : [pod.ip];
}

/**
 * A pod on node-a, Running; override anything. `ip: undefined` is a pod the CNI has not reached
 * yet; `ips` defaults to `[ip]` (single-stack), give it for a dual-stack pod.
 */
export function podInfo(fields: Partial<PodInfo> & { name: string; ip: string | undefined }): PodInfo {
  return {
    ips: fields.ip === undefined ? [] : [fields.ip],
    uid: `uid-${++uid}`,
    namespace: 'gha',
    nodeName: 'node-a',
    phase: 'Running',
    terminating: false,
    hostNetwork: false,
    serviceAccountName: 'default',
    annotations: {},
    ...fields,
  };
}

/**
 * An in-memory PodDirectory for app tests that need no watch: IPs (every one of `ips`) map to pods directly, and pods
 * without an IP yet (scheduled, CNI pending) are listed and announced but own no IP.
 * The watch-backed directory has its own tests against a real API stand-in.
 */
export class FakeDirectory implements PodDirectory {
  private readonly podsByIp = new Map<string, PodInfo[]>();
  private readonly scheduled = new Map<string, PodInfo>();
  private readonly namespaces = new Map<string, NamespaceInfo>();
  private readonly serviceAccounts = new Map<string, ServiceAccountInfo>();
  private readonly listeners: Array<(pods: readonly PodInfo[]) => void> = [];
  private readonly waiters = new Map<string, Array<() => void>>();
  ready = true;

  addPod(pod: PodInfo): PodInfo {
    if (pod.ip === undefined) {
      this.scheduled.set(pod.uid, pod);
      this.emit([pod]);
      return pod;
    }
    for (const ip of addresses(pod)) {
      this.podsByIp.set(ip, [...(this.podsByIp.get(ip) ?? []), pod]);
      for (const wake of this.waiters.get(ip) ?? []) wake();
      this.waiters.delete(ip);
    }
    this.emit([pod]);
    return pod;
  }

  /** The CNI gave a scheduled pod its IP: the pod, as the watch's MODIFIED event would carry it. */
  giveIp(pod: PodInfo, ip: string): PodInfo {
    this.scheduled.delete(pod.uid);
    return this.addPod({ ...pod, ip, phase: 'Running' });
  }

  /** A MODIFIED event: the pod's new object replaces the old one under the same addresses, in one step. */
  updatePod(pod: PodInfo, next: PodInfo): PodInfo {
    for (const ip of addresses(pod)) this.podsByIp.set(ip, (this.podsByIp.get(ip) ?? []).map((p) => (p.uid === pod.uid ? next : p)));
    this.emit([next]);
    return next;
  }

  removePod(pod: PodInfo): void {
    if (pod.ip === undefined) {
      this.scheduled.delete(pod.uid);
      this.emit([]);
      return;
    }
    for (const ip of addresses(pod)) this.podsByIp.set(ip, (this.podsByIp.get(ip) ?? []).filter((p) => p.uid !== pod.uid));
    this.emit([]);
  }

  setNamespace(name: string, annotations: Record<string, string>): void {
    this.namespaces.set(name, { name, annotations });
    this.emit(this.pods().filter((p) => p.namespace === name));
  }

  setServiceAccount(namespace: string, name: string, annotations: Record<string, string>): void {
    this.serviceAccounts.set(`${namespace}/${name}`, { namespace, name, annotations });
    this.emit(this.pods().filter((p) => p.namespace === namespace && p.serviceAccountName === name));
  }

  byIp(ip: string): PodLookup {
    const live = (this.podsByIp.get(ip) ?? []).filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
    if (live.length === 0) return { kind: 'unknown' };
    if (live.length === 1) return { kind: 'found', pod: live[0] as PodInfo };
    return { kind: 'ambiguous', pods: live };
  }

  waitForIp(ip: string, timeoutMs: number): Promise<PodLookup> {
    const now = this.byIp(ip);
    if (now.kind !== 'unknown') return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.byIp(ip)), timeoutMs);
      this.waiters.set(ip, [...(this.waiters.get(ip) ?? []), () => { clearTimeout(timer); resolve(this.byIp(ip)); }]);
    });
  }

  namespace(name: string): NamespaceInfo | undefined {
    return this.namespaces.get(name);
  }

  serviceAccount(namespace: string, name: string): ServiceAccountInfo | undefined {
    return this.serviceAccounts.get(`${namespace}/${name}`);
  }

  pods(): readonly PodInfo[] {
    // A dual-stack pod is under each of its addresses; list it once.
    return [...new Set([...this.podsByIp.values()].flat())].concat([...this.scheduled.values()]);
  }

  onChange(listener: (pods: readonly PodInfo[]) => void): void {
    this.listeners.push(listener);
  }

  isReady(): boolean {
    return this.ready;
  }

  private emit(pods: readonly PodInfo[]): void {
    for (const listener of this.listeners) listener(pods);
  }
}
