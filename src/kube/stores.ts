import { parsePod } from './parse.js';
import type { PodIndex } from './pod-index.js';
import type { ReflectorStore } from './reflector.js';
import type { PodInfo } from './types.js';

function sameAnnotations(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => b[key] === a[key]);
}

/** Equal in everything a decision or the IP index reads; status churn (conditions, restarts) is not. */
function samePod(a: PodInfo, b: PodInfo): boolean {
  return (
    a.uid === b.uid &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.nodeName === b.nodeName &&
    a.ip === b.ip &&
    a.ips.length === b.ips.length &&
    a.ips.every((ip, i) => b.ips[i] === ip) &&
    a.phase === b.phase &&
    a.terminating === b.terminating &&
    a.hostNetwork === b.hostNetwork &&
    a.serviceAccountName === b.serviceAccountName &&
    sameAnnotations(a.annotations, b.annotations)
  );
}

/**
 * Feeds pod watch events into the index. `changed` gets the live pods (with or without an IP)
 * that are new or differ in a decision input or their IP, so listeners hear of a pod when it is
 * scheduled and again when the CNI gives it its IP; pods that left are not passed. `ips` are the
 * IPs whose owner may have moved.
 */
export function createPodStore(
  index: PodIndex,
  nodeName: string,
  changed: (pods: PodInfo[], ips: Set<string>) => void,
): ReflectorStore {
  // The field selector already filters by node; a pod bound elsewhere is never ours to answer for.
  const ours = (pod: PodInfo) => pod.nodeName === nodeName;
  return {
    replace(objects) {
      const pods = objects.map(parsePod).filter(ours);
      const before = new Map(index.pods().map((pod) => [pod.uid, pod]));
      const ips = index.replace(pods);
      const fresh = index.pods().filter((pod) => {
        const old = before.get(pod.uid);
        return !old || !samePod(old, pod);
      });
      // A pod gone without an IP touches no IP, but listeners still need to hear that it left.
      const left = [...before.keys()].some((uid) => !index.get(uid));
      if (ips.size > 0 || fresh.length > 0 || left) changed(fresh, ips);
    },
    upsert(object) {
      const pod = parsePod(object);
      if (!ours(pod)) {
        if (index.get(pod.uid)) changed([], index.remove(pod.uid));
        return;
      }
      const before = index.get(pod.uid);
      const ips = index.upsert(pod);
      const after = index.get(pod.uid);
      if (after && (!before || !samePod(before, after))) changed([after], ips);
      else if (before && !after) changed([], ips);
    },
    remove(object) {
      const pod = parsePod(object);
      if (!index.get(pod.uid)) return;
      changed([], index.remove(pod.uid));
    },
  };
}

/**
 * Namespaces or ServiceAccounts by key. Only annotations feed decisions, so `changed` hears
 * about an object only when it appears, goes, or its annotations differ.
 */
export class AnnotatedCache<T extends { annotations: Readonly<Record<string, string>> }> implements ReflectorStore {
  private readonly byKey = new Map<string, T>();

  constructor(
    private readonly parse: (raw: unknown) => T,
    private readonly keyOf: (item: T) => string,
    private readonly changed: (items: T[]) => void,
  ) {}

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  replace(objects: readonly unknown[]): void {
    const incoming = new Map(objects.map((raw) => {
      const item = this.parse(raw);
      return [this.keyOf(item), item] as const;
    }));
    const differing: T[] = [];
    for (const [key, old] of this.byKey) {
      if (!incoming.has(key)) differing.push(old);
    }
    for (const [key, item] of incoming) {
      const old = this.byKey.get(key);
      if (!old || !sameAnnotations(old.annotations, item.annotations)) differing.push(item);
    }
    this.byKey.clear();
    for (const [key, item] of incoming) this.byKey.set(key, item);
    if (differing.length > 0) this.changed(differing);
  }

  upsert(object: unknown): void {
    const item = this.parse(object);
    const key = this.keyOf(item);
    const old = this.byKey.get(key);
    this.byKey.set(key, item);
    if (!old || !sameAnnotations(old.annotations, item.annotations)) this.changed([item]);
  }

  remove(object: unknown): void {
    const item = this.parse(object);
    const key = this.keyOf(item);
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    this.changed([old]);
  }
}
