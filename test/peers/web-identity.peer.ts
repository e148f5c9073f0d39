import t from 'tap';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { startFakeSts } from '../../demo/fake-sts.js';
import type { JsonWebKeySet } from '../../demo/oidc-token.js';
import { createStsAssumer, createWebIdentityAssumer } from '../../src/credentials/index.js';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import type { ServiceAccountTokenRequest } from '../../src/kube/api/transport-types.js';
import { createServiceAccountTokens } from '../../src/kube/index.js';
import { eventually } from '../helpers/eventually.js';
import { findHelm, NAMESPACE, renderChart } from '../helpers/helm.js';
import { controlPlaneBinaries, getBody, SERVICE_ACCOUNT_ISSUER, startControlPlane } from '../helpers/kube-apiserver.js';
import { podInfo } from '../helpers/scripted-kube.js';

/**
 * Web-identity mode on a real kube-apiserver (Node,RBAC authorization and NodeRestriction, as on
 * kubeadm and EKS), with the chart's templates/web-identity.yaml and the agent's own transport
 * holding a token bound to its pod on node-a:
 * - the tokens the agent gets verify against the issuer's discovery document and JWKS, and the
 *   STS stand-in (demo/fake-sts.ts, through the real STS adapter) hands out a session only to the
 *   ServiceAccount the role trusts;
 * - what each layer refuses: the admission policy (as the agent's own ServiceAccount) and
 *   constrained impersonation of its own node (impersonate:associated-node).
 */

const VAP = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
const ROLE = 'arn:aws:iam::123456789012:role/spark-etl';
const AUDIENCE = 'sts.amazonaws.com';

const control = controlPlaneBinaries(t);
const helm = findHelm(t);

if (!control.ok || !helm.ok) {
  t.test('web-identity mode on a real kube-apiserver', { skip: !control.ok ? control.reason : !helm.ok ? helm.reason : '' }, () => {});
} else {
  const helmBin = helm.bin;
  t.test('web-identity mode on a real kube-apiserver: verified tokens, trusted ServiceAccounts only, and what each layer refuses', async (t) => {
    const plane = await startControlPlane(t, control.binaries, { nodeAuthorization: true });
    const admin = plane.admin();
    const core = admin.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(admin);
    t.match(plane.version, /^v1\.3[6-9]|^v1\.[4-9]/, 'a kube-apiserver with constrained impersonation on by default');

    for (const name of [NAMESPACE, 'gha']) await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'corridor' } } });
    for (const name of ['spark', 'other']) await core.createNamespacedServiceAccount({ namespace: 'gha', body: { metadata: { name } } });
    for (const node of ['node-a', 'node-b']) await core.createNode({ body: { metadata: { name: node } } });
    const pod = (namespace: string, name: string, node: string, serviceAccountName: string): Promise<V1Pod> =>
      core.createNamespacedPod({ namespace, body: { metadata: { name }, spec: { nodeName: node, serviceAccountName, containers: [{ name: 'c', image: 'x' }] } } });
    const agentPod = await pod(NAMESPACE, 'corridor-agent', 'node-a', 'corridor');
    const driver = await pod('gha', 'spark-driver', 'node-a', 'spark');
    const elsewhere = await pod('gha', 'spark-elsewhere', 'node-b', 'spark');
    const intruder = await pod('gha', 'intruder', 'node-a', 'other');
    const info = (p: V1Pod) => podInfo({ name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '', uid: p.metadata?.uid ?? '', ip: undefined, serviceAccountName: p.spec?.serviceAccountName ?? '', nodeName: p.spec?.nodeName ?? '' });

    const agentToken = await core.createNamespacedServiceAccountToken({
      name: 'corridor',
      namespace: NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'corridor-agent', uid: agentPod.metadata?.uid } } },
    });
    const agent = createHttpTransport({ server: plane.server, ca: plane.caPem, token: agentToken.status?.token ?? '', insecureSkipTlsVerify: false, source: 'test' });
    t.teardown(() => agent.close?.());
    const agentRaw = new KubeConfig();
    agentRaw.loadFromString(plane.kubeConfigText(agentToken.status?.token ?? ''));
    const agentCore = agentRaw.makeApiClient(CoreV1Api);

    const apply = async (values: Record<string, unknown>) => {
      const rendered = renderChart(helmBin, { fullnameOverride: 'corridor', ...values }, ['--api-versions', VAP, '--kube-version', plane.version.replace(/^v/, '').replace(/[-+].*$/, ''), '--show-only', 'templates/web-identity.yaml']);
      for (const object of rendered) {
        await objects.create(object).catch(async () => {
          await objects.delete(object);
          await objects.create(object);
        });
      }
      return rendered;
    };
    const status = async (request: () => Promise<unknown>): Promise<{ status: number; message: string }> => {
      try {
        await request();
        return { status: 201, message: '' };
      } catch (error) {
        const e = error as { statusCode?: number; code?: number; body?: unknown; message?: string };
        return { status: e.statusCode ?? e.code ?? 0, message: typeof e.body === 'string' ? e.body : (e.message ?? '') };
      }
    };
    const ask = (request: Partial<ServiceAccountTokenRequest> & { pod: { name: string; uid: string } }) =>
      status(() => agent.requestToken({ namespace: 'gha', serviceAccount: 'spark', audience: AUDIENCE, expirationSeconds: 600, ...request }));
    const raw = (spec: Record<string, unknown>) => status(() => agentCore.createNamespacedServiceAccountToken({ name: 'spark', namespace: 'gha', body: { spec } as never }));
    const bound = (p: V1Pod) => ({ name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' });

    // 1. As the agent's own ServiceAccount, confined by the admission policy.
    const direct = await apply({ 'agent.credentialMode': 'web-identity', 'agent.tokenAudience': AUDIENCE, 'agent.tokenExpiration': '10m' });
    t.same(direct.map((o) => o.kind), ['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    await eventually('the policy to refuse an unbound token', 30_000, async () => (await raw({ audiences: [AUDIENCE], expirationSeconds: 600 })).status === 403);
    const policy = {
      unbound: await raw({ audiences: [AUDIENCE], expirationSeconds: 600 }),
      'bound without a uid': await raw({ audiences: [AUDIENCE], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'spark-driver' } }),
      'another audience': await ask({ pod: bound(driver), audience: 'https://kubernetes.default.svc' }),
      'a long expiry': await ask({ pod: bound(driver), expirationSeconds: 3600 }),
    };
    for (const [what, result] of Object.entries(policy)) {
      t.equal(result.status, 403, `policy: ${what} is refused`);
      t.match(result.message, /corridor's agent may request/, `policy: ${what}: by the policy`);
    }
    const otherNodeDirect = await ask({ pod: bound(elsewhere) });
    t.equal(otherNodeDirect.status, 201, 'policy alone: a token for a pod on another node is NOT refused (the policy cannot see the pod\'s node)');
    t.equal((await ask({ pod: bound(driver) })).status, 201, 'policy: a pod-bound token for the audience, 10 minutes: issued');

    // 2. The agent's path end to end: a token for the pod's ServiceAccount, verified by the issuer's keys, exchanged at the STS stand-in.
    const discovery = JSON.parse(await getBody(`${plane.server}/.well-known/openid-configuration`, { ca: plane.caPem, token: plane.adminToken })) as { issuer: string; jwks_uri: string };
    t.equal(discovery.issuer, SERVICE_ACCOUNT_ISSUER, 'the discovery document names the issuer the tokens carry');
    t.match(discovery.jwks_uri, /\/openid\/v1\/jwks$/);
    const jwks = JSON.parse(await getBody(`${plane.server}/openid/v1/jwks`, { ca: plane.caPem, token: plane.adminToken })) as JsonWebKeySet;
    t.ok(jwks.keys.length >= 1, 'the JWKS has the issuer\'s key');
    const sts = await startFakeSts({
      webIdentity: { issuer: discovery.issuer, audiences: [AUDIENCE], jwks: () => jwks, roles: new Map([[ROLE, { sub: ['system:serviceaccount:gha:spark'], aud: AUDIENCE }]]) },
    });
    t.teardown(() => sts.close());
    const adapter = createStsAssumer({ region: 'us-east-1', endpoint: sts.url, env: {}, requestTimeoutMs: 5000 });
    t.teardown(() => adapter.close());
    const pods = [driver, intruder].map(info);
    const assumer = createWebIdentityAssumer({ tokens: createServiceAccountTokens({ transport: agent, pods: () => pods, audience: AUDIENCE, expirationSeconds: 600, asNode: undefined }), sts: adapter });
    const request = (serviceAccount: string) => ({ roleArn: ROLE, roleSessionName: 'corridor.gha.node-a', durationSeconds: 43_200, serviceAccount: { namespace: 'gha', name: serviceAccount } });
    const session = await assumer.assume(request('spark'));
    t.ok(session.expiration - Date.now() > 11.9 * 3600_000, 'a 12 h session for the trusted ServiceAccount');
    t.match(sts.webIdentityCalls.at(-1), { refused: undefined, claims: { iss: SERVICE_ACCOUNT_ISSUER, sub: 'system:serviceaccount:gha:spark', aud: [AUDIENCE], 'kubernetes.io': { pod: { name: 'spark-driver' } } } }, 'the token verified by the published JWKS, bound to the pod');
    await t.rejects(assumer.assume(request('other')), { code: 'AccessDenied', message: /AssumeRoleWithWebIdentity/ }, 'a ServiceAccount the role does not trust: STS\'s AccessDenied');
    t.match(sts.webIdentityCalls.at(-1), { refused: 'AccessDenied', claims: undefined });
    const forged = (await agent.requestToken({ namespace: 'gha', serviceAccount: 'spark', pod: bound(driver), audience: AUDIENCE, expirationSeconds: 600 })).token.replace(/\.[^.]+$/, '.AAAA');
    await t.rejects(adapter.assumeWithWebIdentity(request('spark'), forged), { code: 'InvalidIdentityToken' }, 'a token whose signature does not verify is refused');

    // 3. As its own node (constrained impersonation): the node authorizer and NodeRestriction take over.
    const asNode = await apply({ 'agent.credentialMode': 'web-identity', 'agent.tokenAudience': AUDIENCE, 'agent.tokenExpiration': '10m', 'agent.tokenRequestAsNode': true });
    t.ok(asNode.some((o) => o.metadata?.name === 'corridor-web-identity-node-audience'));
    await eventually('the direct right to be gone', 30_000, async () => (await ask({ pod: bound(driver) })).status === 403);
    t.equal((await ask({ pod: bound(driver) })).status, 403, 'as itself the agent may no longer request tokens at all');
    await eventually('acting as node-a to work', 30_000, async () => (await ask({ pod: bound(driver), asNode: 'node-a' })).status === 201);
    const node = {
      'a pod on another node': await ask({ pod: bound(elsewhere), asNode: 'node-a' }),
      'acting as another node': await ask({ pod: bound(elsewhere), asNode: 'node-b' }),
      'another audience': await ask({ pod: bound(driver), asNode: 'node-a', audience: 'https://kubernetes.default.svc' }),
      'a pod binding without its uid': await ask({ pod: { name: 'spark-driver', uid: '' }, asNode: 'node-a' }),
    };
    for (const [what, result] of Object.entries(node)) {
      t.equal(result.status, 403, `as node-a: ${what} is refused (${result.message.slice(0, 160)})`);
    }
    const unboundAsNode = await status(async () => {
      const kc = new KubeConfig();
      kc.loadFromString(plane.kubeConfigText(agentToken.status?.token ?? ''));
      const user = kc.getCurrentUser();
      if (user) (user as { impersonateUser?: string }).impersonateUser = 'system:node:node-a';
      return kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: 'spark', namespace: 'gha', body: { spec: { audiences: [AUDIENCE], expirationSeconds: 600 } } });
    });
    t.not(unboundAsNode.status, 201, `as node-a: an unbound token is refused (${unboundAsNode.status} ${unboundAsNode.message.slice(0, 160)})`);
    t.equal((await ask({ pod: bound(driver), asNode: 'node-a', expirationSeconds: 3600 })).status, 201, 'as node-a: a long expiry is NOT refused (nodes may ask any; the policy matches only the agent\'s own name)');
    const evidence = { policy, otherNodeDirect, node, unboundAsNode };
    t.comment(`refusals: ${JSON.stringify(Object.fromEntries(Object.entries(evidence).map(([k, v]) => [k, v])), (key, value: unknown) => (key === 'message' && typeof value === 'string' ? value.slice(0, 140) : value))}`);

    // Without the node-audience grant, NodeRestriction refuses even sts.amazonaws.com for a pod that does not mount it.
    await objects.delete(asNode.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata?.name === 'corridor-web-identity-node-audience') as KubernetesObject);
    await eventually('the audience to be refused without the nodes\' grant', 30_000, async () => (await ask({ pod: bound(driver), asNode: 'node-a' })).status === 403);
    t.pass('the node audience restriction refuses the audience once nodes are not granted it');
  });
}
