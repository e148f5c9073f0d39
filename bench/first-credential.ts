import { setTimeout as sleep } from 'node:timers/promises';
import { makeNamespace, makePod, type FakeKubeApi } from '../src/demo/index.js';
import { CREDENTIALS_PATH, NODE } from './cluster.js';
import { get, median } from './load.js';
import { until } from './probe.js';

export interface FirstCredentialResult {
  samples: number;
  /** ADDED -> first 200, the pod asking once prefetch has the session (a new role/namespace session: STS is on the path). */
  prefetchMs: { p50: number; max: number };
  /** ADDED -> first 200, the pod asking at once, before the watch event or the prefetch is through. */
  coldMs: { p50: number; max: number };
  /** ADDED -> first 200 for a pod whose role and namespace already have a session (another pod uses it). */
  sharedMs: { p50: number; max: number };
  /**
   * As in a cluster: ADDED when scheduled (no IP yet), MODIFIED with its IP `cniDelayMs` later,
   * the pod asks at once; time from the IP event to the first 200.
   */
  scheduledMs: { p50: number; max: number };
  cniDelayMs: number;
}

/**
 * Time to first credential, with STS answering after its configured latency. Every pod of the
 * prefetch and cold cases is in a namespace of its own with a role of its own, so each needs an
 * AssumeRole; pods of the shared case join a namespace whose session is cached.
 */
export async function measureFirstCredential(kube: FakeKubeApi, agent: { url: string; adminUrl: string }, samples: number, cniDelayMs: number): Promise<FirstCredentialResult> {
  const prefetch: number[] = [];
  const cold: number[] = [];
  const shared: number[] = [];
  const scheduled: number[] = [];
  const role = (kind: string, i: number) => `first-${kind}-${i}`;
  for (let i = 0; i < samples; i++) {
    for (const kind of ['prefetch', 'cold', 'scheduled']) kube.upsert(makeNamespace(`first-${kind}-${i}`, { 'iam.amazonaws.com/role': role(kind, i) }));
  }
  kube.upsert(makeNamespace('first-shared', { 'iam.amazonaws.com/role': 'first-shared' }));
  const seed = '127.0.3.250';
  kube.upsert(makePod({ name: 'seed', namespace: 'first-shared', ip: seed, nodeName: NODE }));
  await until('the shared session', async () => ((await get(agent.url, CREDENTIALS_PATH + 'first-shared', seed)).status === 200 ? true : undefined), 10_000, 5);

  for (let i = 0; i < samples; i++) {
    // Prefetch: the pod's first request comes once the agent has its session; poll the admin
    // explain endpoint (not the metadata path, which would be the cold path) until then.
    const ipP = `127.0.3.${1 + i}`;
    const t0 = performance.now();
    kube.upsert(makePod({ name: `prefetch-${i}`, namespace: `first-prefetch-${i}`, ip: ipP, nodeName: NODE }));
    await until(
      'a prefetched session',
      async () => {
        const { body } = await get(agent.adminUrl, `/debug/explain?ip=${ipP}`);
        return (JSON.parse(body) as { credentials: { expiration: string | null } | null }).credentials?.expiration ? true : undefined;
      },
      10_000,
      1,
    );
    const answer = await get(agent.url, CREDENTIALS_PATH + role('prefetch', i), ipP);
    if (answer.status !== 200) throw new Error(`prefetch pod ${ipP}: ${answer.status} ${answer.body}`);
    prefetch.push(performance.now() - t0);

    // Cold: the pod asks the moment it is created.
    const ipC = `127.0.3.${101 + i}`;
    const t1 = performance.now();
    kube.upsert(makePod({ name: `cold-${i}`, namespace: `first-cold-${i}`, ip: ipC, nodeName: NODE }));
    const coldAnswer = await get(agent.url, CREDENTIALS_PATH + role('cold', i), ipC);
    if (coldAnswer.status !== 200) throw new Error(`cold pod ${ipC}: ${coldAnswer.status} ${coldAnswer.body}`);
    cold.push(performance.now() - t1);

    // Shared: a new pod of a namespace whose session is cached; it asks at once too.
    const ipS = `127.0.3.${201 + i}`;
    const t2 = performance.now();
    kube.upsert(makePod({ name: `shared-${i}`, namespace: 'first-shared', ip: ipS, nodeName: NODE }));
    const sharedAnswer = await get(agent.url, CREDENTIALS_PATH + 'first-shared', ipS);
    if (sharedAnswer.status !== 200) throw new Error(`shared pod ${ipS}: ${sharedAnswer.status} ${sharedAnswer.body}`);
    shared.push(performance.now() - t2);

    // Scheduled: the pod exists before it has an IP; the CNI gives it one a little later.
    const ipD = `127.0.4.${1 + i}`;
    const name = `scheduled-${i}`;
    const namespace = `first-scheduled-${i}`;
    kube.upsert(makePod({ name, namespace, nodeName: NODE, phase: 'Pending' }));
    await sleep(cniDelayMs);
    const t3 = performance.now();
    kube.modifyPod(namespace, name, (pod) => {
      pod.status = { ...pod.status, phase: 'Running', podIP: ipD, podIPs: [{ ip: ipD }] };
    });
    const scheduledAnswer = await get(agent.url, CREDENTIALS_PATH + role('scheduled', i), ipD);
    if (scheduledAnswer.status !== 200) throw new Error(`scheduled pod ${ipD}: ${scheduledAnswer.status} ${scheduledAnswer.body}`);
    scheduled.push(performance.now() - t3);
  }
  const summary = (values: number[]) => ({ p50: median(values), max: Math.max(...values) });
  return { samples, prefetchMs: summary(prefetch), coldMs: summary(cold), sharedMs: summary(shared), scheduledMs: summary(scheduled), cniDelayMs };
}
