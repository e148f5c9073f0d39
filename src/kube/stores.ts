import { parsePod } from './parse.js';
import type { PodIndex } from './pod-index.js';
import type { ReflectorStore } from './reflector.js';
import type { PodInfo } from './types.js';

export function sameAnnotations(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => b[key] === a[key]);
}

/** Equal in everything a decision or the IP index reads; status churn (conditions, restarts) is not. */
export function samePod(a: PodInfo, b: PodInfo): boolean {
  return (
    a.uid === b.uid &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.nodeName === b.nodeName &&
    a.ip === b.ip &&
    a.phase === b.phase &&
    a.terminating === b.terminating &&
    a.hostNetwork === b.hostNetwork &&
    a.serviceAccountName === b.serviceAccountName &&
    sameAnnotations(a.annotations, b.annotations)
  );
}

/**
 * Feeds pod watch events into the index. `changed` gets the indexed pods that are new or differ
 * in a decision input (pods that left the index are not passed), and the IPs whose owner may have moved.
 */
export function createPodStore(
  index: PodIndex,
  nodeName: string,
  changed: (pods: PodInfo[], ips: Set<string>) => void,
): ReflectorStore {
  const parseOwn = (raw: unknown): PodInfo => {
    const pod = parsePod(raw);
    // The field selector already filters by node; a pod bound elsewhere is never ours to answer for.
    return pod.nodeName === nodeName ? pod : { ...pod, ip: undefined };
  };
  return {
    replace(objects) {
      const pods = objects.map(parseOwn);
      const before = new Map(index.pods().map((pod) => [pod.uid, pod]));
      const ips = index.replace(pods);
      const fresh = index.pods().filter((pod) => {
        const old = before.get(pod.uid);
        return !old || !samePod(old, pod);
      });
      if (ips.size > 0 || fresh.length > 0) changed(fresh, ips);
    },
    upsert(object) {
      const pod = parseOwn(object);
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
