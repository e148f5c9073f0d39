import t from 'tap';
import { ApiException, CoreV1Api, KubernetesObjectApi, type V1Container } from '@kubernetes/client-node';
import { eventually } from '../helpers/eventually.js';
import { findHelm, renderChart } from '../helpers/helm.js';
import { controlPlaneBinaries, startControlPlane } from '../helpers/kube-apiserver.js';

/**
 * The chart's drop-NET_RAW policy (netRawPolicy.enabled) on a real kube-apiserver: where pods
 * share an L2 bridge, a pod keeping CAP_NET_RAW can answer ARP for another pod's IP and call
 * corridor as that pod, so pods that keep it are refused, in every namespace but the exempt ones.
 * Requests are dry runs: admission runs, nothing is stored.
 */

const VAP = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
const IMAGE = 'registry.example/app:1';
const DROP_NET_RAW = { capabilities: { drop: ['NET_RAW'] } };
const DROP_ALL = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

type Answer = { allowed: true } | { allowed: false; message: string };

const control = controlPlaneBinaries(t);
const helm = findHelm(t);

if (!control.ok || !helm.ok) {
  t.test('the drop-NET_RAW policy on a real kube-apiserver', { skip: !control.ok ? control.reason : !helm.ok ? helm.reason : '' }, () => {});
} else {
  const helmBin = helm.bin;
  t.test('the drop-NET_RAW policy refuses pods that keep CAP_NET_RAW, except in exempt namespaces', async (t) => {
    t.same(renderChart(helmBin, {}, ['--api-versions', VAP]).filter((o) => /drop-net-raw/.test(o.metadata.name)), [], 'off by default');
    const policy = renderChart(helmBin, { 'netRawPolicy.enabled': true, fullnameOverride: 'corridor' }, ['--api-versions', VAP, '--show-only', 'templates/netrawpolicy.yaml']);
    t.same(policy.map((o) => o.kind), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

    const plane = await startControlPlane(t, control.binaries);
    const admin = plane.admin();
    const core = admin.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(admin);
    await core.createNamespace({ body: { metadata: { name: 'team' } } });
    await core.createNamespace({ body: { metadata: { name: 'infra', labels: { 'corridor/allow-net-raw': 'true' } } } });
    for (const object of policy) await objects.create(object);

    const ask = async (namespace: string, spec: { containers: V1Container[]; initContainers?: V1Container[] }): Promise<Answer> => {
      try {
        await core.createNamespacedPod({ namespace, body: { metadata: { name: 'case' }, spec }, dryRun: 'All' });
        return { allowed: true };
      } catch (error) {
        if (!(error instanceof ApiException)) throw error;
        const body = typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
        return { allowed: false, message: (JSON.parse(body) as { message?: string }).message ?? body };
      }
    };
    const app = (securityContext?: V1Container['securityContext'], name = 'app'): V1Container => ({ name, image: IMAGE, ...(securityContext ? { securityContext } : {}) });

    // The API server loads a new policy and binding through informers, a moment after they are written.
    await eventually('the policy to be in effect', 60_000, async () => !(await ask('team', { containers: [app()] })).allowed, 250);

    const refused = await ask('team', { containers: [app()] });
    t.match(refused, { allowed: false, message: /corridor: container\(s\) app keep CAP_NET_RAW.*drop: \["NET_RAW"\]/ }, 'a container with the runtime\'s default capabilities is refused, with how to fix it');
    t.same(await ask('team', { containers: [app(DROP_NET_RAW)] }), { allowed: true }, 'dropping NET_RAW is enough');
    t.same(await ask('team', { containers: [app(DROP_ALL)] }), { allowed: true }, 'so is dropping ALL');
    t.match(await ask('team', { containers: [app({ capabilities: { drop: ['ALL'], add: ['NET_RAW'] } })] }), { allowed: false }, 'dropping ALL but adding NET_RAW back is refused');
    t.match(await ask('team', { containers: [app({ privileged: true, capabilities: { drop: ['ALL'] } })] }), { allowed: false }, 'a privileged container is refused');
    t.match(await ask('team', { containers: [app(DROP_ALL)], initContainers: [app(undefined, 'setup')] }), { allowed: false, message: /container\(s\) setup keep/ }, 'an init container keeping it is refused, by name');
    t.match(await ask('team', { containers: [app(), app(DROP_ALL, 'sidecar'), app(undefined, 'worker')] }), { allowed: false, message: /container\(s\) app, worker keep/ }, 'every container keeping it is named');
    t.same(await ask('infra', { containers: [app()] }), { allowed: true }, 'a namespace labelled corridor/allow-net-raw is not checked');
    t.same(await ask('kube-system', { containers: [app()] }), { allowed: true }, 'nor is kube-system');

    // The chart's own pods pass it: the agent and its init containers drop ALL and add no NET_RAW.
    const chartPods = renderChart(helmBin, {}, []).filter((o) => o.kind === 'DaemonSet');
    for (const daemonSet of chartPods) {
      const spec = (daemonSet as unknown as { spec: { template: { spec: { containers: V1Container[]; initContainers?: V1Container[] } } } }).spec.template.spec;
      t.same(await ask('team', spec), { allowed: true }, `the chart's ${daemonSet.metadata.name} DaemonSet pod is admitted`);
    }
  });
}
