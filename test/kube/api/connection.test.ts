import { join } from 'node:path';
import t from 'tap';
import { resolveKubeConnection } from '../../../src/kube/api/connection.js';

const CA = '-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\na2V5\n-----END EC PRIVATE KEY-----\n';
const b64 = (text: string) => Buffer.from(text).toString('base64');

interface ConfigInput {
  name?: string;
  server?: string;
  cluster?: Record<string, unknown>;
  user?: Record<string, unknown>;
  currentContext?: string | null;
}

/** A kubeconfig (JSON is YAML) with one cluster, user and context, all named `name`. */
function kubeconfig({ name = 'test', server = 'https://api.example:6443', cluster = {}, user = { token: 'abc' }, currentContext }: ConfigInput = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, ...cluster } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    ...(currentContext === null ? {} : { 'current-context': currentContext ?? name }),
  });
}

const none = { env: {}, homeDir: '/nonexistent' };

t.test('an explicit kubeconfig with a token and CA data', async (t) => {
  const dir = t.testdir({ config: kubeconfig({ server: 'https://explicit.example:6443/', cluster: { 'certificate-authority-data': b64(CA) } }) });
  const connection = await resolveKubeConnection(join(dir, 'config'), none);
  t.same(connection, {
    server: 'https://explicit.example:6443',
    ca: CA,
    token: 'abc',
    insecureSkipTlsVerify: false,
    source: join(dir, 'config'),
  });
});

// (Whether yaml is loaded cannot be seen here: tap itself loads it.)
t.test('a JSON kubeconfig is read as JSON; YAML flow style that is not JSON still parses', async (t) => {
  const dir = t.testdir({
    json: kubeconfig({ server: 'https://json.example:6443' }),
    flow: "{apiVersion: v1, kind: Config, clusters: [{name: f, cluster: {server: 'https://flow.example:6443'}}], users: [{name: f, user: {token: t}}], contexts: [{name: f, context: {cluster: f, user: f}}], current-context: f}",
  });
  t.equal((await resolveKubeConnection(join(dir, 'json'), none)).server, 'https://json.example:6443');
  t.equal((await resolveKubeConnection(join(dir, 'flow'), none)).server, 'https://flow.example:6443');
});

t.test('a kubeconfig in YAML, with client certificate and key data', async (t) => {
  const dir = t.testdir({
    config: [
      'apiVersion: v1',
      'kind: Config',
      '# a comment, as people write them',
      'clusters:',
      '- name: prod',
      '  cluster:',
      '    server: https://prod.example',
      '    tls-server-name: kubernetes.default',
      'users:',
      '- name: admin',
      '  user:',
      `    client-certificate-data: ${b64(CERT)}`,
      `    client-key-data: ${b64(KEY)}`,
      'contexts:',
      '- name: prod',
      '  context: {cluster: prod, user: admin}',
      'current-context: prod',
      '',
    ].join('\n'),
  });
  const connection = await resolveKubeConnection(join(dir, 'config'), none);
  t.match(connection, { server: 'https://prod.example', cert: CERT, key: KEY, tlsServerName: 'kubernetes.default', insecureSkipTlsVerify: false });
  t.equal(connection.token, undefined);
  t.equal(connection.needsClientNode, undefined);
});

t.test('certificate, key, CA and token files are read relative to the kubeconfig, as kubectl does', async (t) => {
  const dir = t.testdir({
    kube: {
      config: kubeconfig({
        cluster: { 'certificate-authority': 'pki/ca.crt' },
        user: { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key', tokenFile: 'token' },
      }),
      pki: { 'ca.crt': CA, 'client.crt': CERT, 'client.key': KEY },
      token: 'file-token',
    },
  });
  const connection = await resolveKubeConnection(join(dir, 'kube', 'config'), none);
  t.match(connection, { ca: CA, cert: CERT, key: KEY, tokenFile: join(dir, 'kube', 'token') });
});

t.test('insecure-skip-tls-verify is carried', async (t) => {
  const dir = t.testdir({ config: kubeconfig({ server: 'http://127.0.0.1:8001', cluster: { 'insecure-skip-tls-verify': true } }) });
  t.equal((await resolveKubeConnection(join(dir, 'config'), none)).insecureSkipTlsVerify, true);
});

t.test('in a cluster (KUBERNETES_SERVICE_HOST) the mounted ServiceAccount is used', async (t) => {
  // One fixture directory per test: a second t.testdir() call would replace the first.
  const dir = t.testdir({
    sa: { 'ca.crt': CA, token: 'projected' },
    home: { '.kube': { config: kubeconfig({ server: 'https://home.example' }) } },
    explicit: { config: kubeconfig({ server: 'https://explicit.example' }) },
  });
  const serviceAccountDir = join(dir, 'sa');
  const home = join(dir, 'home');
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: join(home, '.kube', 'config') };
  t.same(await resolveKubeConnection(undefined, { env, homeDir: home, serviceAccountDir }), {
    server: 'https://10.96.0.1:443',
    ca: CA,
    tokenFile: join(serviceAccountDir, 'token'),
    insecureSkipTlsVerify: false,
    source: 'in-cluster',
  }, 'before $KUBECONFIG and ~/.kube/config');
  const v6 = await resolveKubeConnection(undefined, { env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir });
  t.equal(v6.server, 'https://[fd00:10:96::1]:443', 'an IPv6 service address is bracketed');
  t.equal((await resolveKubeConnection(join(dir, 'explicit', 'config'), { env, serviceAccountDir })).server, 'https://explicit.example', 'an explicit file wins');
});

t.test('in a cluster without the mounted CA the error says which file is missing', async (t) => {
  const serviceAccountDir = t.testdir({ token: 'projected' });
  await t.rejects(
    () => resolveKubeConnection(undefined, { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir }),
    /cannot read the in-cluster CA \(.*ca\.crt\)/,
  );
});

t.test('otherwise $KUBECONFIG, whose first file decides the context and first definitions win, then ~/.kube/config', async (t) => {
  const dir = t.testdir({
    a: kubeconfig({ name: 'a', server: 'https://a.example' }),
    b: JSON.stringify({
      clusters: [{ name: 'a', cluster: { server: 'https://shadowed.example' } }, { name: 'b', cluster: { server: 'https://b.example' } }],
      'current-context': 'b',
    }),
    home: { '.kube': { config: kubeconfig({ server: 'https://home.example:6443' }) } },
  });
  const home = join(dir, 'home');
  t.equal((await resolveKubeConnection(undefined, { env: { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` }, homeDir: home })).server, 'https://a.example');
  t.equal((await resolveKubeConnection(undefined, { env: {}, homeDir: home })).server, 'https://home.example:6443');
});

t.test('with no configuration anywhere the error says what to do instead of defaulting to localhost', async (t) => {
  const home = t.testdir({ '.kube': {} });
  await t.rejects(() => resolveKubeConnection(undefined, { env: {}, homeDir: home }), /no Kubernetes configuration found: pass --kubeconfig/);
});

t.test('a missing or unreadable explicit file is a clear error naming it', async (t) => {
  await t.rejects(() => resolveKubeConnection('/nonexistent/kubeconfig', none), /cannot load kubeconfig \/nonexistent\/kubeconfig: ENOENT/);
  const dir = t.testdir({ config: 'clusters: [unclosed' });
  await t.rejects(() => resolveKubeConnection(join(dir, 'config'), none), /cannot load kubeconfig .*config: /);
});

t.test('a missing current-context, or one that names nothing, is rejected', async (t) => {
  const dir = t.testdir({
    unset: kubeconfig({ currentContext: null }),
    dangling: kubeconfig({ currentContext: 'nowhere' }),
    noserver: kubeconfig({ server: '' }),
  });
  await t.rejects(() => resolveKubeConnection(join(dir, 'unset'), none), /no current cluster \(check current-context\): current-context is not set/);
  await t.rejects(() => resolveKubeConnection(join(dir, 'dangling'), none), /no current cluster .*context "nowhere" is not defined/);
  await t.rejects(() => resolveKubeConnection(join(dir, 'noserver'), none), /no current cluster .*cluster "test" has no http\(s\) server/);
});

t.test('a client certificate without its key is rejected', async (t) => {
  const dir = t.testdir({ config: kubeconfig({ user: { 'client-certificate-data': b64(CERT) } }) });
  await t.rejects(() => resolveKubeConnection(join(dir, 'config'), none), /user "test" has a client certificate without a client key/);
});

t.test('users that only client-node can authenticate are flagged for it', async (t) => {
  const dir = t.testdir({
    eks: kubeconfig({ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'aws', args: ['eks', 'get-token', '--cluster-name', 'prod'] } } }),
    oidc: kubeconfig({ user: { 'auth-provider': { name: 'oidc', config: {} } } }),
    basic: kubeconfig({ user: { username: 'admin', password: 'secret' } }),
    proxied: kubeconfig({ cluster: { 'proxy-url': 'socks5://localhost:1080' } }),
    plain: kubeconfig(),
  });
  t.equal((await resolveKubeConnection(join(dir, 'eks'), none)).needsClientNode, 'exec plugin aws');
  t.equal((await resolveKubeConnection(join(dir, 'oidc'), none)).needsClientNode, 'auth-provider oidc');
  t.equal((await resolveKubeConnection(join(dir, 'basic'), none)).needsClientNode, 'basic auth');
  t.equal((await resolveKubeConnection(join(dir, 'proxied'), none)).needsClientNode, 'proxy-url');
  t.equal((await resolveKubeConnection(join(dir, 'plain'), none)).needsClientNode, undefined);
});
