import { setTimeout as sleep } from 'node:timers/promises';
import { makeNamespace, makePod, type FakeKubeApi } from '../demo/index.js';
import { CREDENTIALS_PATH, NODE } from './cluster.js';
import { get, median } from './load.js';
import { until } from './probe.js';

export interface FirstCredentialResult {
  samples: number;
  /**
   * As in a cluster, with prefetch: the pod is ADDED when scheduled (no IP yet), MODIFIED with its
   * IP `cniDelayMs` later, and asks at once; time from the IP event to the first 200.
   */
  prefetchMs: { p50: number; max: number };
  /** ADDED with its IP -> first 200, the pod asking at once, before the watch event or the prefetch is through. */
  coldMs: { p50: number; max: number };
  /** ADDED -> first 200 for a pod whose role and namespace already have a session (another pod uses it). */
  sharedMs: { p50: number; max: number };
  cniDelayMs: number;
}

/**
 * Time to first credential, with STS answering after its configured latency. Every pod of the
 * prefetch and cold cases is in a namespace of its own with a role of its own, so each needs an
 * AssumeRole; pods of the shared case join a namespace whose session is cached.
 */
export async function measureFirstCredential(kube: FakeKubeApi, agent: { url: string }, samples: number, cniDelayMs: number): Promise<FirstCredentialResult> {
  const prefetch: number[] = [];
  const cold: number[] = [];
  const shared: number[] = [];
  const role = (kind: string, i: number) => `first-${kind}-${i}`;
  for (let i = 0; i < samples; i++) {
    for (const kind of ['prefetch', 'cold']) kube.upsert(makeNamespace(`first-${kind}-${i}`, { 'iam.amazonaws.com/role': role(kind, i) }));
  }
  kube.upsert(makeNamespace('first-shared', { 'iam.amazonaws.com/role': 'first-shared' }));
  const seed = '127.0.3.250';
  kube.upsert(makePod({ name: 'seed', namespace: 'first-shared', ip: seed, nodeName: NODE }));
  await until('the shared session', async () => ((await get(agent.url, CREDENTIALS_PATH + 'first-shared', seed)).status === 200 ? true : undefined), 10_000, 5);

  for (let i = 0; i < samples; i++) {
    // Prefetch: the pod exists (scheduled) before the CNI gives it an IP; it asks the moment it has one.
    const ipP = `127.0.3.${1 + i}`;
    const name = `prefetch-${i}`;
    const namespace = `first-prefetch-${i}`;
    kube.upsert(makePod({ name, namespace, nodeName: NODE, phase: 'Pending' }));
    await sleep(cniDelayMs);
    const t0 = performance.now();
    kube.modifyPod(namespace, name, (pod) => {
      pod.status = { ...pod.status, phase: 'Running', podIP: ipP, podIPs: [{ ip: ipP }] };
    });
    const answer = await get(agent.url, CREDENTIALS_PATH + role('prefetch', i), ipP);
    if (answer.status !== 200) throw new Error(`prefetch pod ${ipP}: ${answer.status} ${answer.body}`);
    prefetch.push(performance.now() - t0);

    // Cold: the pod is created with its IP and asks at once.
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
  }
  const summary = (values: number[]) => ({ p50: median(values), max: Math.max(...values) });
  return { samples, prefetchMs: summary(prefetch), coldMs: summary(cold), sharedMs: summary(shared), cniDelayMs };
}
