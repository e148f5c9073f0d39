import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadKubeConfig } from '../../../src/kube/api/kubeconfig.js';

function kubeconfigText(server: string, name = 'test'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: { token: 'abc' } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}

t.test('an explicit file is loaded', async (t) => {
  const dir = t.testdir({ config: kubeconfigText('https://explicit.example:6443') });
  const kubeConfig = loadKubeConfig(join(dir, 'config'), { env: {}, homeDir: '/nonexistent' });
  t.equal(kubeConfig.getCurrentCluster()?.server, 'https://explicit.example:6443');
});

t.test('a missing explicit file is a clear error naming it', async (t) => {
  t.throws(() => loadKubeConfig('/nonexistent/kubeconfig', { env: {} }), /cannot load kubeconfig \/nonexistent\/kubeconfig/);
});

t.test('in a cluster (KUBERNETES_SERVICE_HOST) the ServiceAccount config is used', async (t) => {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  t.teardown(() => {
    for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  const kubeConfig = loadKubeConfig(undefined, { env: process.env, homeDir: '/nonexistent' });
  t.equal(kubeConfig.getCurrentCluster()?.server, 'https://10.96.0.1:443');
});

t.test('otherwise ~/.kube/config is used', async (t) => {
  const home = t.testdir({ '.kube': { config: kubeconfigText('https://home.example:6443') } });
  const kubeConfig = loadKubeConfig(undefined, { env: {}, homeDir: home });
  t.equal(kubeConfig.getCurrentCluster()?.server, 'https://home.example:6443');
});

t.test('KUBECONFIG files are used before ~/.kube/config, the first one deciding the context', async (t) => {
  const dir = t.testdir({
    a: kubeconfigText('https://a.example', 'a'),
    b: kubeconfigText('https://b.example', 'b'),
    home: { '.kube': { config: kubeconfigText('https://home.example:6443') } },
  });
  const home = join(dir, 'home');
  const kubeConfig = loadKubeConfig(undefined, { env: { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` }, homeDir: home });
  t.equal(kubeConfig.getCurrentCluster()?.server, 'https://a.example');
  t.equal(kubeConfig.getClusters().length, 2);
});

t.test('with no configuration anywhere the error says what to do instead of defaulting to localhost', async (t) => {
  const home = t.testdir({ '.kube': {} });
  t.throws(() => loadKubeConfig(undefined, { env: {}, homeDir: home }), /no Kubernetes configuration found: pass --kubeconfig/);
});

t.test('a file without a current context is rejected', async (t) => {
  const dir = t.testdir({});
  writeFileSync(join(dir, 'config'), JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
  t.throws(() => loadKubeConfig(join(dir, 'config'), { env: {} }), /no current cluster/);
});

t.test('a context picks one of the merged contexts, and an unknown one is a clear error', async (t) => {
  const dir = t.testdir({ a: kubeconfigText('https://a.example:6443', 'a'), b: kubeconfigText('https://b.example:6443', 'b') });
  const env = { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` };
  t.equal(loadKubeConfig(undefined, { env }, 'b').getCurrentCluster()?.server, 'https://b.example:6443');
  t.throws(() => loadKubeConfig(undefined, { env }, 'c'), /no context "c"/);
});
