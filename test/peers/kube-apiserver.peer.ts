import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ApiException, AuthorizationV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { within } from '../helpers/fake-kube-api.js';
import { startTestAgent, type TestAgent } from '../helpers/agent-harness.js';
import { controlPlaneBinaries, startControlPlane } from '../helpers/kube-apiserver.js';
import { startMoto } from '../helpers/moto.js';
import { reportPeerWhenPassing, ROOT, skipPeer } from '../helpers/peers.js';

/**
 * The agent against a real kube-apiserver (built from k8s.io/kubernetes, on etcd), authorised
 * only by the ClusterRole in manifests/ through a ServiceAccount token, with moto as STS. Pods
 * are created through the API and given IPs (127.0.0.x, the source addresses the test calls
 * from) through the status subresource, as a kubelet would; no scheduler or kubelet runs.
 */

const PEER = 'kube-apiserver';
const NODE = 'node-a';
const ACCOUNT = '123456789012';

const control = controlPlaneBinaries(t);

if (!control.ok) skipPeer(t, PEER, control.reason);
else {
  const { binaries } = control;
  t.test('the agent against a real kube-apiserver', async (t) => {
    const plane = await startControlPlane(t, binaries);
    reportPeerWhenPassing(t, PEER, () => plane.version);
    t.comment(`kube-apiserver ${plane.version} at ${plane.server}`);
    const admin = plane.admin();
    const core = admin.makeApiClient(CoreV1Api);

    // The corridor ServiceAccount, ClusterRole and ClusterRoleBinding exactly as manifests/ has
    // them, the ServiceAccount in the namespace the binding's subject names.
    const rbac = rbacObjects();
    // Two ClusterRoles and bindings: the watch, and the start-up taint's node get/patch (which the
    // chart's policy confines to the one taint on the agent's own node: startup-taint.peer.ts).
    t.same(rbac.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ServiceAccount'], 'manifests/corridor.yaml has the RBAC objects');
    const subject = (rbac.find((o) => o.kind === 'ClusterRoleBinding') as { subjects?: Array<{ kind: string; name: string; namespace?: string }> } | undefined)?.subjects?.[0];
    t.match(subject, { kind: 'ServiceAccount', name: rbac.find((o) => o.kind === 'ServiceAccount')?.metadata?.name }, 'the binding names the ServiceAccount');
    const agentNamespace = subject?.namespace ?? 'corridor';
    await core.createNamespace({ body: { metadata: { name: agentNamespace } } });
    const objects = KubernetesObjectApi.makeApiClient(admin);
    for (const object of rbac) {
      await objects.create(object.kind === 'ServiceAccount' ? { ...object, metadata: { ...object.metadata, namespace: agentNamespace } } : object);
    }
    const serviceAccount = rbac.find((o) => o.kind === 'ServiceAccount')?.metadata?.name ?? '';
    const token = await core.createNamespacedServiceAccountToken({ name: serviceAccount, namespace: agentNamespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const agentKubeConfig = (server?: string) => plane.kubeConfigText(token.status?.token ?? '', server);
    const user = `system:serviceaccount:${agentNamespace}:${serviceAccount}`;

    await t.test('the ClusterRole from manifests/ allows what the agent needs and nothing more', async (t) => {
      const authz = admin.makeApiClient(AuthorizationV1Api);
      const may = async (verb: string, resource: string, options: { group?: string; namespace?: string; subresource?: string } = {}) => {
        const review = await authz.createSubjectAccessReview({
          body: { spec: { user, groups: ['system:serviceaccounts', `system:serviceaccounts:${agentNamespace}`, 'system:authenticated'], resourceAttributes: { verb, resource, ...options } } },
        });
        return review.status?.allowed === true;
      };
      for (const resource of ['pods', 'namespaces']) {
        for (const verb of ['get', 'list', 'watch']) t.ok(await may(verb, resource), `may ${verb} ${resource} in every namespace`);
      }
      const forbidden: Array<[string, string, { group?: string; namespace?: string; subresource?: string }?]> = [
        ['list', 'secrets'],
        ['get', 'secrets', { namespace: 'gha' }],
        ['create', 'pods', { namespace: 'gha' }],
        ['delete', 'pods', { namespace: 'gha' }],
        ['patch', 'pods', { namespace: 'gha' }],
        ['update', 'pods', { namespace: 'gha', subresource: 'status' }],
        ['create', 'pods', { namespace: 'gha', subresource: 'exec' }],
        ['update', 'namespaces'],
        ['list', 'serviceaccounts'],
        ['create', 'serviceaccounts', { namespace: 'gha', subresource: 'token' }],
        ['list', 'configmaps'],
        ['update', 'nodes'],
        ['delete', 'nodes'],
        ['list', 'nodes'],
        ['patch', 'nodes', { subresource: 'status' }],
        ['impersonate', 'serviceaccounts'],
        ['list', 'daemonsets', { group: 'apps' }],
        ['escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }],
      ];
      for (const [verb, resource, options] of forbidden) {
        const what = `${verb} ${resource}${options?.subresource ? `/${options.subresource}` : ''}`;
        t.notOk(await may(verb, resource, options), `may not ${what}`);
      }

      // The agent's own token, asking the server what it may do, against what any ServiceAccount
      // token may (system:basic-user and the like): the difference is exactly get/list/watch on
      // pods and namespaces, and get/patch on nodes for the start-up taint.
      const asAgent = new KubeConfig();
      asAgent.loadFromString(agentKubeConfig());
      await core.createNamespacedServiceAccount({ namespace: agentNamespace, body: { metadata: { name: 'baseline' } } });
      const baselineToken = await core.createNamespacedServiceAccountToken({ name: 'baseline', namespace: agentNamespace, body: { spec: { audiences: [], expirationSeconds: 600 } } });
      const asBaseline = new KubeConfig();
      asBaseline.loadFromString(plane.kubeConfigText(baselineToken.status?.token ?? ''));
      const baseline = await grantedRules(asBaseline);
      const extra = [...(await grantedRules(asAgent))].filter((rule) => !baseline.has(rule)).sort();
      const expected = ['core/namespaces:get', 'core/namespaces:list', 'core/namespaces:watch', 'core/nodes:get', 'core/nodes:patch', 'core/pods:get', 'core/pods:list', 'core/pods:watch'];
      t.same(extra, expected, 'beyond what every ServiceAccount may, the token may do exactly this (self subject rules review)');

      // And a forbidden call really is refused to that token.
      const agentCore = asAgent.makeApiClient(CoreV1Api);
      await t.rejects(agentCore.listSecretForAllNamespaces(), { code: 403 }, 'listing secrets with the agent token: 403');
      await t.rejects(agentCore.createNamespacedPod({ namespace: agentNamespace, body: podBody('intruder', {}) }), { code: 403 }, 'creating a pod with the agent token: 403');
      const pods = await agentCore.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE}` });
      t.same(pods.items, [], 'listing this node\'s pods with the agent token works');
    });

    const moto = await startMoto(t);
    await namespace(core, 'gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
    await namespace(core, 'gha1', {});
    await namespace(core, 'etl', { 'iam.amazonaws.com/role': 'etl-job' });
    await pod(core, 'gha', 'driver', { ip: '127.0.0.2' });
    await pod(core, 'gha', 'writer', { ip: '127.0.0.3', annotations: { 'iam.amazonaws.com/role': 'spark-writer' } });
    await pod(core, 'gha', 'rogue', { ip: '127.0.0.4', annotations: { 'iam.amazonaws.com/role': 'admin' } });
    await pod(core, 'gha1', 'plain', { ip: '127.0.0.5' });
    await pod(core, 'gha', 'elsewhere', { ip: '127.0.0.6', node: 'node-b' });

    const agent = await startTestAgent(t, { kubeConfigText: agentKubeConfig(), stsEndpoint: moto.endpoint, flags: ['--pod-lookup-timeout', '5s'] });
    await within(agent.agent.directory.whenReady(), 30_000, 'the agent to list pods and namespaces with its token');
    const roleOf = (ip: string) => roleFor(agent, ip);

    await t.test('pods created through the API get their roles; others are denied', async (t) => {
      t.equal((await fetch(`${agent.agent.adminUrl}/readyz`)).status, 200, 'the agent is ready on the ServiceAccount token alone');
      t.equal(await roleOf('127.0.0.2'), 'spark-etl', 'a pod in gha gets its namespace role');
      t.equal(await roleOf('127.0.0.3'), 'spark-writer', 'a pod picking an allowed role gets it');
      t.equal(await roleOf('127.0.0.4'), 404, 'a pod picking a role outside its corridor: 404');
      t.equal(await roleOf('127.0.0.5'), 404, 'a pod in a namespace without roles: 404');
      t.equal(await roleOf('127.0.0.6'), 404, 'a pod of another node is not watched: 404');
      t.notOk(agent.logs.some((l) => /forbidden/i.test(JSON.stringify(l))), 'nothing the agent asked for was forbidden');

      // The whole path: credentials from the agent, then moto says who they belong to.
      const credentials = await credentialsFor(agent, '127.0.0.3');
      const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
      t.teardown(() => sts.destroy());
      const identity = await sts.send(new GetCallerIdentityCommand({}));
      t.equal(identity.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/spark-writer/corridor.gha.${NODE}`, 'moto names the assumed role');
    });

    await t.test('a request sent before its pod has an IP is answered once the status subresource brings one', async (t) => {
      await pod(core, 'etl', 'late', {});
      const token = await agent.request('127.0.0.7', '/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
      const asked = agent.request('127.0.0.7', '/latest/meta-data/iam/security-credentials/', { headers: { 'x-aws-ec2-metadata-token': token.body } });
      // The IP reaches the agent only after two API calls and a watch event; the request is long sent.
      await setStatus(core, 'etl', 'late', { ip: '127.0.0.7', phase: 'Running' });
      const answer = await asked;
      t.same([answer.status, answer.body], [200, 'etl-job'], 'the waiting request gets the role once the watch brings the IP');
    });

    await t.test('IP reuse: a finished pod gives up its IP, a terminating one yields to its successor', async (t) => {
      await setStatus(core, 'gha', 'driver', { ip: '127.0.0.2', phase: 'Succeeded' });
      await eventually(agent, async () => (await roleOf('127.0.0.2')) === 404, 'the Succeeded pod to lose its IP');
      t.pass('a Succeeded pod no longer owns its IP');
      await pod(core, 'etl', 'next', { ip: '127.0.0.2' });
      await eventually(agent, async () => (await roleOf('127.0.0.2')) === 'etl-job', 'the new pod to own the IP');
      t.equal(await explainPod(agent, '127.0.0.2'), 'etl/next', 'the new pod on the reused IP gets its own role');

      // A delete with a grace period only marks a bound pod (no kubelet here to finish it).
      await core.deleteNamespacedPod({ name: 'late', namespace: 'etl', gracePeriodSeconds: 30 });
      const terminating = await core.readNamespacedPod({ name: 'late', namespace: 'etl' });
      t.ok(terminating.metadata?.deletionTimestamp, 'the pod is terminating, still in the API');
      await pod(core, 'gha', 'successor', { ip: '127.0.0.7' });
      await eventually(agent, async () => (await explainPod(agent, '127.0.0.7')) === 'gha/successor', 'the successor to own the IP');
      t.equal(await roleOf('127.0.0.7'), 'spark-etl', 'the pod without a deletionTimestamp owns the IP');
    });

    await t.test('namespace annotations followed through the watch', async (t) => {
      await annotateNamespace(core, 'gha1', { 'iam.amazonaws.com/role': 'reporting' });
      await eventually(agent, async () => (await roleOf('127.0.0.5')) === 'reporting', 'gha1 to get a default role');
      t.pass('a namespace that gains a default role gives it to its pods');
    });

    await t.test('after an API server restart the agent relists and sees what changed while it was away', async (t) => {
      const originalPort = new URL(plane.server).port;
      await plane.stopApiServer();
      t.equal(await roleOf('127.0.0.3'), 'spark-writer', 'with the API server down the agent serves from its cache');

      // Changes the agent cannot see: the API server is back, but on a port its kubeconfig does not name.
      await plane.startApiServer(await plane.freePort());
      const away = plane.admin().makeApiClient(CoreV1Api);
      await away.deleteNamespacedPod({ name: 'writer', namespace: 'gha', gracePeriodSeconds: 0 });
      await pod(away, 'gha', 'newcomer', { ip: '127.0.0.8', annotations: { 'iam.amazonaws.com/role': 'spark-reader' } });
      await annotateNamespace(away, 'gha1', { 'iam.amazonaws.com/role': 'audit' });
      await plane.stopApiServer();

      const relisted = agent.waitForLog((l) => l.msg === 'watch restarting' && l.resource === 'pods' && typeof l.reason === 'string' && /expired/.test(l.reason));
      await plane.startApiServer(Number(originalPort));
      t.match(await within(relisted, 90_000, 'the pods watch to expire and relist'), { relist: true }, 'the old resourceVersion is gone: 410, relist');
      await eventually(agent, async () => (await roleOf('127.0.0.8')) === 'spark-reader', 'the newcomer after the relist', 60_000);
      t.equal(await roleOf('127.0.0.3'), 404, 'a pod deleted while the agent was away is gone after the relist');
      t.equal(await roleOf('127.0.0.8'), 'spark-reader', 'a pod created while the agent was away is there');
      await eventually(agent, async () => (await roleOf('127.0.0.5')) === 'audit', 'gha1 after the relist', 60_000);
      t.pass('a namespace changed while the agent was away has its new annotation');
      t.equal(await roleOf('127.0.0.2'), 'etl-job', 'state the agent had before is still right');
    });
  });
}

/** `group/resource:verb` for every resource rule a SelfSubjectRulesReview lists (in namespace gha). */
async function grantedRules(kubeConfig: KubeConfig): Promise<Set<string>> {
  const review = await kubeConfig.makeApiClient(AuthorizationV1Api).createSelfSubjectRulesReview({ body: { spec: { namespace: 'gha' } } });
  const granted = new Set<string>();
  for (const rule of review.status?.resourceRules ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) granted.add(`${group || 'core'}/${resource}:${verb}`);
      }
    }
  }
  return granted;
}

function rbacObjects(): KubernetesObject[] {
  const text = readFileSync(join(ROOT, 'manifests/corridor.yaml'), 'utf8');
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind ?? ''));
}

function podBody(name: string, options: { node?: string; annotations?: Record<string, string> }): V1Pod {
  return {
    metadata: { name, annotations: options.annotations ?? {} },
    spec: { nodeName: options.node ?? NODE, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  };
}

async function namespace(core: CoreV1Api, name: string, annotations: Record<string, string>): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, annotations } } });
}

async function annotateNamespace(core: CoreV1Api, name: string, annotations: Record<string, string>): Promise<void> {
  const current = await core.readNamespace({ name });
  current.metadata = { ...current.metadata, annotations: { ...current.metadata?.annotations, ...annotations } };
  await core.replaceNamespace({ name, body: current });
}

/** Creates a pod bound to a node; with `ip`, sets it Running with that IP as a kubelet would. */
async function pod(core: CoreV1Api, namespace: string, name: string, options: { ip?: string; node?: string; annotations?: Record<string, string> }): Promise<void> {
  await core.createNamespacedPod({ namespace, body: podBody(name, options) });
  if (options.ip) await setStatus(core, namespace, name, { ip: options.ip, phase: 'Running' });
}

async function setStatus(core: CoreV1Api, namespace: string, name: string, status: { ip: string; phase: string }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await core.readNamespacedPod({ name, namespace });
    current.status = { ...current.status, phase: status.phase, podIP: status.ip, podIPs: [{ ip: status.ip }], hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }] };
    try {
      await core.replaceNamespacedPodStatus({ name, namespace, body: current });
      return;
    } catch (error) {
      // 409: someone (the API server's own status defaulting) wrote in between; read again.
      if (!(error instanceof ApiException && error.code === 409) || attempt >= 5) throw error;
    }
  }
}

/** What the agent answers a pod at `ip` for its role name over IMDSv2: the name, or the HTTP status. */
async function roleFor(agent: TestAgent, ip: string): Promise<string | number> {
  const token = await agent.request(ip, '/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
  if (token.status !== 200) return token.status;
  const list = await agent.request(ip, '/latest/meta-data/iam/security-credentials/', { headers: { 'x-aws-ec2-metadata-token': token.body } });
  return list.status === 200 ? list.body.trim() : list.status;
}

async function credentialsFor(agent: TestAgent, ip: string): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> {
  const token = await agent.request(ip, '/latest/api/token', { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
  const headers = { 'x-aws-ec2-metadata-token': token.body };
  const name = (await agent.request(ip, '/latest/meta-data/iam/security-credentials/', { headers })).body.trim();
  const document = JSON.parse((await agent.request(ip, `/latest/meta-data/iam/security-credentials/${name}`, { headers })).body) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  return { accessKeyId: document.AccessKeyId, secretAccessKey: document.SecretAccessKey, sessionToken: document.Token };
}

/** `namespace/name` of the pod the agent thinks owns `ip`, from its explain endpoint. */
async function explainPod(agent: TestAgent, ip: string): Promise<string | null> {
  const explanation = (await (await fetch(`${agent.agent.adminUrl}/debug/explain?ip=${ip}`)).json()) as { pod: string | null; namespace: string | null };
  return explanation.pod === null ? null : `${explanation.namespace}/${explanation.pod}`;
}

/**
 * Waits until `check` holds, checking again after each change the agent's directory applies
 * (the listener is armed before each check, so a change in between is not missed).
 */
async function eventually(agent: TestAgent, check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const changed = agent.nextChange();
    if (await check()) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await within(changed, left, what);
  }
}
