import type { PodInfo, PodLookup } from './types.js';

const UNKNOWN: PodLookup = Object.freeze({ kind: 'unknown' });

/**
 * Pods the node answers for at all, with or without an IP yet: hostNetwork pods share the node's
 * address (and identity), and a finished pod will never ask again (its IP is free for the CNI to
 * hand out again; AWS VPC CNI does so after about a minute).
 */
export function isLivePod(pod: PodInfo): boolean {
  return !pod.hostNetwork && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
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
 * This node's live pods by uid, and the owner of each IP. A pod is here from the moment it is
 * scheduled (so its role can be assumed while the CNI is still setting it up), but owns no IP
 * until it has one; a dual-stack pod claims each of its addresses, and each address's owner is
 * decided on its own. The owner of each IP is worked out when a pod changes, so `byIp` on the
 * request path is a single map read.
 */
export class PodIndex {
  private readonly podsByUid = new Map<string, PodInfo>();
  private readonly uidsByIp = new Map<string, Set<string>>();
  private readonly ownerByIp = new Map<string, PodLookup>();
  private podList: readonly PodInfo[] | undefined;
  private withIp = 0;

  byIp(ip: string): PodLookup {
    return this.ownerByIp.get(ip) ?? UNKNOWN;
  }

  get(uid: string): PodInfo | undefined {
    return this.podsByUid.get(uid);
  }

  /** Pods with an IP (what corridor_pods counts); pods() also holds those still waiting for one. */
  get size(): number {
    return this.withIp;
  }

  /** Live pods (not hostNetwork, not finished), with or without an IP. */
  pods(): readonly PodInfo[] {
    this.podList ??= Object.freeze([...this.podsByUid.values()]);
    return this.podList;
  }

  /** Adds or replaces a pod; a pod that is no longer live leaves the index. Returns the IPs whose owner may have changed. */
  upsert(pod: PodInfo): Set<string> {
    if (!isLivePod(pod)) return this.remove(pod.uid);
    const touched = new Set<string>();
    const previous = this.podsByUid.get(pod.uid);
    if (previous !== undefined && previous.ips.length > 0) {
      this.withIp--;
      for (const ip of previous.ips) if (!pod.ips.includes(ip)) this.release(previous.uid, ip, touched);
    }
    this.podsByUid.set(pod.uid, pod);
    this.podList = undefined;
    if (pod.ips.length > 0) this.withIp++;
    for (const ip of pod.ips) {
      let uids = this.uidsByIp.get(ip);
      if (!uids) this.uidsByIp.set(ip, (uids = new Set()));
      uids.add(pod.uid);
      this.recompute(ip, touched);
    }
    return touched;
  }

  /** Returns the IPs whose owner may have changed. */
  remove(uid: string): Set<string> {
    const touched = new Set<string>();
    const previous = this.podsByUid.get(uid);
    if (!previous) return touched;
    this.podsByUid.delete(uid);
    this.podList = undefined;
    if (previous.ips.length > 0) this.withIp--;
    for (const ip of previous.ips) this.release(uid, ip, touched);
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

  private release(uid: string, ip: string, touched: Set<string>): void {
    const uids = this.uidsByIp.get(ip);
    uids?.delete(uid);
    if (uids?.size === 0) this.uidsByIp.delete(ip);
    this.recompute(ip, touched);
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
