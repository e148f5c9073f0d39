import t from 'tap';
import { CoreV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import type { JsonPatchOp } from '../../src/kube/api/transport-types.js';
import { removeStartupTaint } from '../../src/kube/startup-taint.js';
import { createLogger } from '../../src/log/index.js';
import { systemClock, systemScheduler } from '../../src/time/index.js';
import { eventually } from '../helpers/eventually.js';
import { findHelm, NAMESPACE, renderChart } from '../helpers/helm.js';
import { controlPlaneBinaries, startControlPlane } from '../helpers/kube-apiserver.js';
import { sink } from '../helpers/log-sink.js';

/**
 * The start-up taint on a real kube-apiserver: the chart's RBAC and ValidatingAdmissionPolicy
 * (templates/startup-taint.yaml) with the agent's own transport, as the agent's ServiceAccount
 * holding a token bound to its pod on node-a (which names node-a in the token's extra info, as
 * the kubelet's projected tokens do). The agent's removal works on its node; every other change
 * is refused by the policy, and the same changes go through once the policy is gone, so the
 * refusals are the policy's and not RBAC's.
 */

const KEY = 'corridor.io/agent-not-ready';
const OURS = { key: KEY, effect: 'NoExecute' };
const OTHER = { key: 'team.example/gpu', value: 'true', effect: 'NoSchedule' };
const VAP = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';

const control = controlPlaneBinaries(t);
const helm = findHelm(t);

if (!control.ok || !helm.ok) {
  t.test('the start-up taint on a real kube-apiserver', { skip: !control.ok ? control.reason : !helm.ok ? helm.reason : '' }, () => {});
} else {
  const helmBin = helm.bin;
  t.test('the agent removes only its start-up taint, only from its own node; the policy refuses everything else', async (t) => {
    const plane = await startControlPlane(t, control.binaries);
    const admin = plane.admin();
    const core = admin.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(admin);

    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'corridor' } } });
    for (const node of ['node-a', 'node-b', 'node-probe']) {
      await core.createNode({ body: { metadata: { name: node, labels: { 'kubernetes.io/hostname': node } }, spec: { taints: [OURS, OTHER] } } });
    }
    const rendered = renderChart(helmBin, { fullnameOverride: 'corridor' }, ['--api-versions', VAP, '--show-only', 'templates/startup-taint.yaml']);
    t.same(rendered.map((o) => o.kind), ['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    for (const object of rendered) await objects.create(object);

    // The agent's pod on node-a, and a token bound to it, as the kubelet projects one.
    const pod = await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: { metadata: { name: 'corridor-agent' }, spec: { nodeName: 'node-a', serviceAccountName: 'corridor', containers: [{ name: 'agent', image: 'corridor' }] } },
    });
    const request = await core.createNamespacedServiceAccountToken({
      name: 'corridor',
      namespace: NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'corridor-agent', uid: pod.metadata?.uid } } },
    });
    const agent = createHttpTransport({ server: plane.server, ca: plane.caPem, token: request.status?.token ?? '', insecureSkipTlsVerify: false, source: 'test' });
    t.teardown(() => agent.close?.());

    const refusal = async (name: string, patch: JsonPatchOp[]) => {
      try {
        await agent.patchNode(name, patch);
        return undefined;
      } catch (error) {
        return error as Error & { statusCode?: number };
      }
    };
    // The API server adds node.kubernetes.io/not-ready itself (no kubelet reports here): compare the keys of ours and OTHER only.
    const taintsOf = async (name: string) => ((await core.readNode({ name })).spec?.taints ?? []).map((taint) => taint.key).filter((key) => key === KEY || key === OTHER.key);
    const withoutOurs = async (name: string): Promise<JsonPatchOp[]> => {
      const taints = ((await agent.getNode(name)) as { spec: { taints: Array<{ key: string }> } }).spec.taints;
      return [{ op: 'test', path: '/spec/taints', value: taints }, { op: 'replace', path: '/spec/taints', value: taints.filter((taint) => taint.key !== KEY) }];
    };

    // A policy takes effect a moment after it is created: wait until it refuses a node kept for that probe.
    await eventually('the policy to refuse a patch of another node', 30_000, async () => (await refusal('node-probe', await withoutOurs('node-probe')))?.statusCode === 403);
    const otherNode = await refusal('node-b', await withoutOurs('node-b'));
    t.equal(otherNode?.statusCode, 403, 'another node: refused');
    t.match(otherNode?.message, /may change only the node its pod runs on/, 'another node: by the policy, with its message');
    t.same(await taintsOf('node-b'), [KEY, OTHER.key], 'node-b keeps its taints');

    const logs = sink();
    const removal = removeStartupTaint({ transport: agent, nodeName: 'node-a', key: KEY, clock: systemClock, scheduler: systemScheduler, logger: createLogger('info', logs) });
    t.teardown(() => removal.stop());
    t.equal(await removal.done, 'removed', 'its own node: the start-up taint is removed');
    t.same(await taintsOf('node-a'), [OTHER.key], 'node-a keeps every other taint');

    const refused = {
      'another taint of its own node': await refusal('node-a', [{ op: 'replace', path: '/spec/taints', value: [] }]),
      'a label of its own node': await refusal('node-a', [{ op: 'replace', path: '/metadata/labels', value: { 'kubernetes.io/hostname': 'node-a', owned: 'yes' } }]),
      'cordoning its own node': await refusal('node-a', [{ op: 'replace', path: '/spec/unschedulable', value: true }]),
      'adding a taint to its own node': await refusal('node-a', [{ op: 'replace', path: '/spec/taints', value: [OTHER, OURS] }]),
    };
    for (const [what, error] of Object.entries(refused)) {
      t.equal(error?.statusCode, 403, `${what}: refused`);
      t.match(error?.message, /corridor's agent may/, `${what}: by the policy`);
    }
    t.same(await taintsOf('node-a'), [OTHER.key], 'node-a is unchanged by the refused patches');

    // Without the policy, RBAC alone lets the same token do all of it: the refusals above are the policy's.
    const binding = rendered.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as KubernetesObject;
    await objects.delete(binding);
    await eventually('the unconfined patch of node-b to go through', 30_000, async () => (await refusal('node-b', await withoutOurs('node-b'))) === undefined);
    t.same(await taintsOf('node-b'), [OTHER.key], 'without the policy the agent\'s token could untaint any node');
    t.equal(await refusal('node-a', [{ op: 'replace', path: '/spec/unschedulable', value: true }]), undefined, 'and cordon its own node');
  });
}
