import t from 'tap';
import { startPrefetch, type PodAnnouncer, type PrefetchingCache, type RoleFinder } from '../../src/credentials/prefetch.js';
import type { SessionKey } from '../../src/credentials/index.js';

interface Pod {
  name: string;
  role: string | undefined;
  namespace: string;
}

/** The node's pods; `change` replaces them and announces the ones given as changed. */
class FakeAnnouncer implements PodAnnouncer<Pod> {
  private current: readonly Pod[] = [];
  private readonly listeners: Array<(changed: readonly Pod[]) => void> = [];

  onChange(listener: (changed: readonly Pod[]) => void): void {
    this.listeners.push(listener);
  }

  pods(): readonly Pod[] {
    return this.current;
  }

  change(pods: readonly Pod[], changed: readonly Pod[]): void {
    this.current = pods;
    for (const listener of this.listeners) listener(changed);
  }
}

/** A pod's session comes from its role and namespace; a pod without a role has none. */
class FakeRoleFinder implements RoleFinder<Pod> {
  readonly keys = new Map<string, SessionKey>();

  forPod(pod: Pod): { sessionKey: SessionKey | undefined } {
    if (pod.role === undefined) return { sessionKey: undefined };
    const id = `${pod.role}/${pod.namespace}`;
    let key = this.keys.get(id);
    if (key === undefined) this.keys.set(id, (key = { roleArn: `arn:aws:iam::123456789012:role/${pod.role}`, namespace: pod.namespace }));
    return { sessionKey: key };
  }
}

/** Records what prefetch asks of the cache, and which keys it keeps after each change. */
class FakeCache implements PrefetchingCache {
  readonly prefetched: SessionKey[] = [];
  readonly retained: SessionKey[][] = [];

  prefetch(key: SessionKey): void {
    this.prefetched.push(key);
  }

  retain(keys: Iterable<SessionKey>): void {
    this.retained.push([...keys]);
  }
}

function started() {
  const pods = new FakeAnnouncer();
  const roles = new FakeRoleFinder();
  const credentials = new FakeCache();
  startPrefetch({ pods, roles, credentials });
  return { pods, credentials, sessions: (keys: SessionKey[] | undefined) => (keys ?? []).map((k) => `${k.namespace}:${k.roleArn.split('/').pop()}`) };
}

const spark: Pod = { name: 'spark-driver', role: 'spark', namespace: 'etl' };
const web: Pod = { name: 'web', role: 'web', namespace: 'shop' };

t.test('nothing is prefetched or released before the first change is announced', async (t) => {
  const { credentials } = started();
  t.same(credentials.prefetched, []);
  t.same(credentials.retained, []);
});

t.test('a pod that appears gets its session prefetched, and the session is kept', async (t) => {
  const { pods, credentials, sessions } = started();
  pods.change([spark], [spark]);
  t.same(sessions(credentials.prefetched), ['etl:spark']);
  t.same(sessions(credentials.retained.at(-1)), ['etl:spark']);
});

t.test('only the changed pods are prefetched, but every pod on the node keeps its session', async (t) => {
  const { pods, credentials, sessions } = started();
  pods.change([spark], [spark]);
  pods.change([spark, web], [web]);
  t.same(sessions(credentials.prefetched), ['etl:spark', 'shop:web'], 'spark is not prefetched again when only web changed');
  t.same(sessions(credentials.retained.at(-1)), ['etl:spark', 'shop:web']);
});

t.test('sessions no pod uses any more are released when a pod leaves', async (t) => {
  const { pods, credentials, sessions } = started();
  pods.change([spark, web], [spark, web]);
  pods.change([web], []);
  t.same(sessions(credentials.retained.at(-1)), ['shop:web'], 'the spark session is no longer retained');
  pods.change([], []);
  t.same(credentials.retained.at(-1), [], 'with no pods left, nothing is retained');
  t.equal(credentials.prefetched.length, 2, 'leaving pods prefetch nothing');
});

t.test('a pod without a role is neither prefetched nor keeps a session', async (t) => {
  const { pods, credentials, sessions } = started();
  const plain: Pod = { name: 'plain', role: undefined, namespace: 'etl' };
  pods.change([plain, spark], [plain, spark]);
  t.same(sessions(credentials.prefetched), ['etl:spark']);
  t.same(sessions(credentials.retained.at(-1)), ['etl:spark']);
});

t.test('a pod whose role changes gets the new session prefetched and the old one released', async (t) => {
  const { pods, credentials, sessions } = started();
  pods.change([spark], [spark]);
  const moved: Pod = { ...spark, role: 'spark-v2' };
  pods.change([moved], [moved]);
  t.same(sessions(credentials.prefetched), ['etl:spark', 'etl:spark-v2']);
  t.same(sessions(credentials.retained.at(-1)), ['etl:spark-v2']);
});
