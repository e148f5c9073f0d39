import type { PodInfo, PodLookup } from './types.js';

const UNKNOWN: PodLookup = Object.freeze({ kind: 'unknown' });

/**
 * Only these pods can answer for an IP. hostNetwork pods share the node's address, and a finished
 * pod's IP is free for the CNI to hand out again (AWS VPC CNI does so after about a minute).
 */
export function canOwnIp(pod: PodInfo): pod is PodInfo & { ip: string } {
  return pod.ip !== undefined && !pod.hostNetwork && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
}

/**
 * Who owns one IP among the pods that claim it. A terminating pod's IP is reused only once its
 * sandbox is gone, so a single pod without a deletionTimestamp is the new owner; anything else
 * that leaves more than one candidate cannot be decided and must be denied.
 */
export function ownerOf(claimants: readonly PodInfo[]): PodLookup {
  const live = claimants.filter((pod) => !pod.terminating);
  if (live.length === 1) return { kind: 'found', pod: live[0] as PodInfo };
  if (live.length > 1) return { kind: 'ambiguous', pods: live };
  if (claimants.length === 1) return { kind: 'found', pod: claimants[0] as PodInfo };
  if (claimants.length > 1) return { kind: 'ambiguous', pods: [...claimants] };
  return UNKNOWN;
}

/**
 * This node's pods by uid and by IP. The owner of each IP is worked out when a pod changes, so
 * `byIp` on the request path is a single map read.
 */
export class PodIndex {
  private readonly podsByUid = new Map<string, PodInfo & { ip: string }>();
  private readonly uidsByIp = new Map<string, Set<string>>();
  private readonly ownerByIp = new Map<string, PodLookup>();
  private podList: readonly PodInfo[] | undefined;

  byIp(ip: string): PodLookup {
    return this.ownerByIp.get(ip) ?? UNKNOWN;
  }

  get(uid: string): PodInfo | undefined {
    return this.podsByUid.get(uid);
  }

  get size(): number {
    return this.podsByUid.size;
  }

  /** Pods that can own an IP: with an IP, not hostNetwork, not finished. */
  pods(): readonly PodInfo[] {
    this.podList ??= Object.freeze([...this.podsByUid.values()]);
    return this.podList;
  }

  /** Adds or replaces a pod; a pod that can no longer own an IP leaves the index. Returns the IPs whose owner may have changed. */
  upsert(pod: PodInfo): Set<string> {
    if (!canOwnIp(pod)) return this.remove(pod.uid);
    const touched = new Set<string>();
    const previous = this.podsByUid.get(pod.uid);
    if (previous && previous.ip !== pod.ip) this.detach(previous, touched);
    this.podsByUid.set(pod.uid, pod);
    this.podList = undefined;
    let uids = this.uidsByIp.get(pod.ip);
    if (!uids) this.uidsByIp.set(pod.ip, (uids = new Set()));
    uids.add(pod.uid);
    this.recompute(pod.ip, touched);
    return touched;
  }

  /** Returns the IPs whose owner may have changed. */
  remove(uid: string): Set<string> {
    const touched = new Set<string>();
    const previous = this.podsByUid.get(uid);
    if (previous) this.detach(previous, touched);
    return touched;
  }

  /** Makes the index hold exactly `pods` (after a relist): the missing ones were deleted while we were away. */
  replace(pods: Iterable<PodInfo>): Set<string> {
    const incoming = new Map<string, PodInfo>();
    for (const pod of pods) incoming.set(pod.uid, pod);
    const touched = new Set<string>();
    for (const uid of [...this.podsByUid.keys()]) {
      if (!incoming.has(uid)) for (const ip of this.remove(uid)) touched.add(ip);
    }
    for (const pod of incoming.values()) for (const ip of this.upsert(pod)) touched.add(ip);
    return touched;
  }

  private detach(pod: PodInfo & { ip: string }, touched: Set<string>): void {
    this.podsByUid.delete(pod.uid);
    this.podList = undefined;
    const uids = this.uidsByIp.get(pod.ip);
    uids?.delete(pod.uid);
    if (uids?.size === 0) this.uidsByIp.delete(pod.ip);
    this.recompute(pod.ip, touched);
  }

  private recompute(ip: string, touched: Set<string>): void {
    touched.add(ip);
    const uids = this.uidsByIp.get(ip);
    if (!uids) {
      this.ownerByIp.delete(ip);
      return;
    }
    const claimants: PodInfo[] = [];
    for (const uid of uids) claimants.push(this.podsByUid.get(uid) as PodInfo);
    this.ownerByIp.set(ip, ownerOf(claimants));
  }
}
