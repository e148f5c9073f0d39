import http from 'node:http';
import { createInterface } from 'node:readline';
import { CoreV1Api } from '@kubernetes/client-node';
import t from 'tap';
import { clientNodeKubeConfig } from '../helpers/client-node.js';
import { authorizeWebIdentity } from '../../demo/oidc-token.js';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import { fakeKubeApi, makeNamespace, makePod, makeServiceAccount, within, type FakeKubeApi } from '../helpers/fake-kube-api.js';

interface WatchLine {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string }; code?: number };
}

/** Opens a watch with plain node:http and collects its events until the server ends the stream. */
function watchStream(api: FakeKubeApi, path: string): { status: Promise<number>; lines: WatchLine[]; ended: Promise<void>; next(): Promise<WatchLine> } {
  const lines: WatchLine[] = [];
  const waiting: Array<(line: WatchLine) => void> = [];
  let resolveStatus!: (code: number) => void;
  let resolveEnded!: () => void;
  const status = new Promise<number>((resolve) => { resolveStatus = resolve; });
  const ended = new Promise<void>((resolve) => { resolveEnded = resolve; });
  const request = http.get(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.token}` } }, (response) => {
    resolveStatus(response.statusCode ?? 0);
    const reader = createInterface(response);
    // readline re-emits the response's errors; the stream's end is all that matters here.
    reader.on('error', () => resolveEnded());
    reader.on('line', (text) => {
      const line = JSON.parse(text) as WatchLine;
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    });
    response.on('close', resolveEnded);
    // The server cuts streams still open at teardown; that is the end of the stream, not a failure.
    response.on('error', () => resolveEnded());
  });
  request.on('error', () => resolveEnded());
  return {
    status,
    lines,
    ended,
    next: () => {
      const line = lines.shift();
      return line ? Promise.resolve(line) : within(new Promise((resolve) => waiting.push(resolve)), 5000, 'a watch event');
    },
  };
}

t.test('lists honour the node field selector and report the current resourceVersion', async (t) => {
  const api = await fakeKubeApi(t, {
    objects: [makePod({ name: 'a', ip: '10.0.0.1' }), makePod({ name: 'b', ip: '10.0.0.2', nodeName: 'node-b' })],
  });
  const core = clientNodeKubeConfig(t, api).makeApiClient(CoreV1Api);
  const list = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' });
  t.same(list.items.map((p) => p.metadata?.name), ['a']);
  t.equal(list.metadata?.resourceVersion, api.resourceVersion);
  const byIp = await core.listPodForAllNamespaces({ fieldSelector: 'status.podIP=10.0.0.2' });
  t.same(byIp.items.map((p) => p.metadata?.name), ['b'], 'other fields can be selected too (explain by IP)');
  t.equal(api.requests.list.pods, 2);
});

t.test('lists honour equality-based label selectors, keys with dots and slashes included', async (t) => {
  const api = await fakeKubeApi(t, {
    objects: [
      makePod({ name: 'agent', namespace: 'corridor', labels: { 'app.kubernetes.io/name': 'corridor', tier: 'node' } }),
      makePod({ name: 'other', namespace: 'corridor', labels: { 'app.kubernetes.io/name': 'other' } }),
    ],
  });
  const core = clientNodeKubeConfig(t, api).makeApiClient(CoreV1Api);
  const names = async (labelSelector: string) => (await core.listNamespacedPod({ namespace: 'corridor', labelSelector })).items.map((p) => p.metadata?.name);
  t.same(await names('app.kubernetes.io/name=corridor'), ['agent']);
  t.same(await names('app.kubernetes.io/name==corridor,tier=node'), ['agent']);
  t.same(await names('tier!=node'), ['other'], '!= matches pods without the label');
});

t.test('single objects can be read by name', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makeNamespace('gha', { k: 'v' }), makePod({ name: 'a', namespace: 'gha', ip: '10.0.0.1' })] });
  const core = clientNodeKubeConfig(t, api).makeApiClient(CoreV1Api);
  t.equal((await core.readNamespacedPod({ namespace: 'gha', name: 'a' })).status?.podIP, '10.0.0.1');
  t.same((await core.readNamespace({ name: 'gha' })).metadata?.annotations, { k: 'v' });
  await t.rejects(core.readNamespacedPod({ namespace: 'gha', name: 'missing' }), { code: 404 });
});

t.test('requests without the bearer token are refused with 401', async (t) => {
  const api = await fakeKubeApi(t);
  const response = await fetch(`${api.url}/api/v1/pods`);
  t.equal(response.status, 401);
  t.equal(((await response.json()) as { kind: string }).kind, 'Status');
});

t.test('a watch replays history after its resourceVersion, then streams live changes through the selector', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makePod({ name: 'a', ip: '10.0.0.1' })] });
  const from = api.resourceVersion;
  api.upsert(makePod({ name: 'b', ip: '10.0.0.2' }));
  api.upsert(makePod({ name: 'elsewhere', ip: '10.0.0.3', nodeName: 'node-b' }));
  const stream = watchStream(api, `/api/v1/pods?watch=true&resourceVersion=${from}&fieldSelector=spec.nodeName%3Dnode-a`);
  t.equal(await stream.status, 200);
  const replayed = await stream.next();
  t.same([replayed.type, replayed.object.metadata?.name], ['ADDED', 'b']);
  api.modifyPod('default', 'a', (pod) => {
    pod.metadata.annotations = { x: 'y' };
  });
  api.deletePod('default', 'b');
  t.same([(await stream.next()).type, (await stream.next()).type], ['MODIFIED', 'DELETED']);
  api.closeWatches();
  await within(stream.ended, 5000, 'the stream to end');
  t.same(stream.lines, [], 'the node-b pod never appeared');
});

t.test('a watch without a resourceVersion starts with the current objects as ADDED', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makeNamespace('one'), makeNamespace('two')] });
  const stream = watchStream(api, '/api/v1/namespaces?watch=true');
  const names = [(await stream.next()).object.metadata?.name, (await stream.next()).object.metadata?.name];
  t.same(names, ['one', 'two']);
});

t.test('after expireHistory an old resourceVersion gets 410, as an ERROR event or as HTTP status', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makeNamespace('one')] });
  const old = api.resourceVersion;
  api.upsert(makeNamespace('two'));
  api.expireHistory();
  const asEvent = watchStream(api, `/api/v1/namespaces?watch=true&resourceVersion=${old}`);
  t.equal(await asEvent.status, 200);
  const error = await asEvent.next();
  t.same([error.type, error.object.code], ['ERROR', 410]);
  await within(asEvent.ended, 5000, 'the refused stream to end');

  api.expireHistory({ as: 'http' });
  const asStatus = watchStream(api, `/api/v1/namespaces?watch=true&resourceVersion=${old}`);
  t.equal(await asStatus.status, 410);

  const current = watchStream(api, `/api/v1/namespaces?watch=true&resourceVersion=${api.resourceVersion}`);
  t.equal(await current.status, 200, 'an up-to-date resourceVersion is still fine');
  api.closeWatches();
});

t.test('expireHistory ends open watches with an ERROR 410 event', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makeNamespace('one')] });
  const stream = watchStream(api, `/api/v1/namespaces?watch=true&resourceVersion=${api.resourceVersion}`);
  await stream.status;
  api.expireHistory();
  t.same((await stream.next()).object.code, 410);
  await within(stream.ended, 5000, 'the evicted stream to end');
  t.equal(api.openWatches, 0);
});

t.test('bookmarks go only to watches that asked for them', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makeNamespace('one')] });
  const withBookmarks = watchStream(api, `/api/v1/namespaces?watch=true&allowWatchBookmarks=true&resourceVersion=${api.resourceVersion}`);
  const without = watchStream(api, `/api/v1/namespaces?watch=true&resourceVersion=${api.resourceVersion}`);
  await Promise.all([withBookmarks.status, without.status]);
  api.sendBookmark();
  api.upsert(makeNamespace('two'));
  t.equal((await withBookmarks.next()).type, 'BOOKMARK');
  t.equal((await without.next()).type, 'ADDED', 'the first event the other watch sees is the change');
  api.closeWatches();
});

t.test('timeoutSeconds ends a watch from the server side', async (t) => {
  const api = await fakeKubeApi(t);
  const stream = watchStream(api, `/api/v1/namespaces?watch=true&timeoutSeconds=1&resourceVersion=${api.resourceVersion}`);
  await stream.status;
  await within(stream.ended, 5000, 'the server to end the watch');
  t.equal(api.openWatches, 0);
});

t.test('setDown answers 503 or resets connections, optionally for some resources only', async (t) => {
  const api = await fakeKubeApi(t);
  const get = (path: string) => fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.token}` } });
  api.setDown(true);
  t.equal((await get('/api/v1/pods')).status, 503);
  api.setDown(true, 'reset');
  await t.rejects(get('/api/v1/pods'), 'connection reset');
  api.setDown(true, 'unavailable', ['serviceaccounts']);
  t.equal((await get('/api/v1/serviceaccounts')).status, 503);
  t.equal((await get('/api/v1/pods')).status, 200);
  api.setDown(false);
  t.equal((await get('/api/v1/serviceaccounts')).status, 200);
  t.equal(api.requests.list.pods, 3, 'refused requests are counted too');
});

t.test('kubeConfigText is a plain-HTTP kubeconfig that client-node reads when loaded as corridor loads one', async (t) => {
  const api = await fakeKubeApi(t);
  const loaded = clientNodeKubeConfig(t, api);
  t.equal(loaded.getCurrentCluster()?.server, api.url);
  const core = loaded.makeApiClient(CoreV1Api);
  t.same((await core.listNamespace()).items, []);
});

t.test('watch=1 opens a watch, as the API server reads the parameter as a bool', async (t) => {
  const api = await fakeKubeApi(t);
  const watch = watchStream(api, '/api/v1/pods?watch=1&timeoutSeconds=1');
  t.equal(await watch.status, 200);
  await within(watch.ended, 5000, 'the watch to time out');
  t.equal(api.requests.watch.pods, 1);
  t.equal(api.requests.list.pods, 0);
});

t.test('a changed token is required from then on (rotation)', async (t) => {
  const api = await fakeKubeApi(t);
  const get = (token: string) => fetch(`${api.url}/api/v1/pods`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const old = api.token;
  api.token = 'rotated';
  t.equal(await get(old), 401);
  t.equal(await get('rotated'), 200);
  t.match(api.kubeConfigText(), /"token":"rotated"/);
  t.same(api.connection(), { server: api.url, token: 'rotated', insecureSkipTlsVerify: false, source: 'fake-kube-api' });
});

/** The stand-in with a pod of ServiceAccount gha/spark on node-a, and the agent's own transport to it. */
async function tokenCluster(t: Parameters<typeof fakeKubeApi>[0]) {
  const api = await fakeKubeApi(t, {
    objects: [makeServiceAccount('gha', 'spark'), makePod({ name: 'driver', namespace: 'gha', ip: '10.0.0.1', serviceAccountName: 'spark', uid: 'uid-driver' })],
  });
  const transport = createHttpTransport(api.connection());
  t.teardown(() => transport.close?.());
  return { api, transport, uid: 'uid-driver' };
}

t.test('a TokenRequest bound to a pod gets a token its issuer\'s JWKS verifies, with the ServiceAccount as subject', async (t) => {
  const { api, transport, uid } = await tokenCluster(t);
  const issued = await transport.requestToken({ namespace: 'gha', serviceAccount: 'spark', pod: { name: 'driver', uid }, audience: 'sts.amazonaws.com', expirationSeconds: 600 });
  t.ok(issued.expiration > Date.now() + 590_000, 'expires as asked');
  const trust = {
    issuer: api.tokenIssuer.issuer,
    audiences: ['sts.amazonaws.com'],
    jwks: () => api.tokenIssuer.jwks(),
    roles: new Map([['arn:aws:iam::123456789012:role/spark', { sub: ['system:serviceaccount:gha:spark'], aud: 'sts.amazonaws.com' }]]),
  };
  const verdict = await authorizeWebIdentity(issued.token, 'arn:aws:iam::123456789012:role/spark', trust, Date.now());
  t.match(verdict, { ok: true, claims: { sub: 'system:serviceaccount:gha:spark', aud: ['sts.amazonaws.com'], 'kubernetes.io': { pod: { name: 'driver', uid } } } });
  t.match(api.tokenRequests, [{ namespace: 'gha', serviceAccount: 'spark', pod: { name: 'driver', uid }, audiences: ['sts.amazonaws.com'], expirationSeconds: 600, asNode: undefined, status: 201 }]);
});

t.test('a TokenRequest is refused as the API server refuses it: a stale pod uid, another ServiceAccount\'s pod, a missing ServiceAccount, under 10 minutes', async (t) => {
  const { api, transport, uid } = await tokenCluster(t);
  const ask = (serviceAccount: string, podUid: string, expirationSeconds = 600) =>
    transport.requestToken({ namespace: 'gha', serviceAccount, pod: { name: 'driver', uid: podUid }, audience: 'sts.amazonaws.com', expirationSeconds });
  api.upsert(makeServiceAccount('gha', 'other'));
  await t.rejects(ask('spark', 'not-its-uid'), { message: /does not match the UID in record/ });
  await t.rejects(ask('other', uid), { message: /different serviceaccount name/ });
  await t.rejects(ask('missing', uid), { message: /serviceaccounts "missing" not found/ });
  await t.rejects(ask('spark', uid, 599), { message: /less than 10 minutes/ });
  t.same(api.tokenRequests.map((r) => r.status), [409, 400, 404, 400]);
});

t.test('a TokenRequest as a node (impersonated) is refused for a pod on another node, as NodeRestriction refuses it', async (t) => {
  const { api, transport, uid } = await tokenCluster(t);
  const ask = (asNode: string) =>
    transport.requestToken({ namespace: 'gha', serviceAccount: 'spark', pod: { name: 'driver', uid }, audience: 'sts.amazonaws.com', expirationSeconds: 600, asNode });
  await t.rejects(ask('node-b'), { message: /different node/ });
  await ask('node-a');
  t.same(api.tokenRequests.map((r) => [r.asNode, r.status]), [['node-b', 403], ['node-a', 201]]);
});
