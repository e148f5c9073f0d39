import { join } from 'node:path';
import t from 'tap';
import { openKubeTransport } from '../../../src/kube/api/open-transport.js';
import { createLogger } from '../../../src/log/index.js';
import { fakeKubeApi, makePod } from '../../helpers/fake-kube-api.js';

function capture() {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line)) });
  return { logs, logger };
}

const never = new AbortController().signal;
const names = (items: readonly unknown[]) => items.map((pod) => (pod as { metadata: { name: string } }).metadata.name);

t.test('a kubeconfig with a token gets the http transport, without client-node', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makePod({ name: 'a', ip: '10.0.0.1' })] });
  const dir = t.testdir({ config: api.kubeConfigText() });
  const { logs, logger } = capture();
  const transport = await openKubeTransport(join(dir, 'config'), { logger, sources: { env: {} } });
  t.teardown(() => transport.close?.());
  t.same(names((await transport.list('pods', { signal: never })).items), ['a']);
  t.notOk(logs.some((l) => String(l.msg).includes('client-node')));
  t.equal(typeof transport.close, 'function', 'the http transport (it has pooled connections to close)');
});

t.test('an exec-plugin user (as EKS\'s `aws eks get-token`) falls back to client-node, says so, and works', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makePod({ name: 'a', ip: '10.0.0.1' })] });
  // The plugin prints an ExecCredential with the stand-in's token, as `aws eks get-token` would.
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: api.token } });
  const dir = t.testdir({
    config: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'eks', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'eks', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(credential)})`], interactiveMode: 'Never' } } }],
      contexts: [{ name: 'eks', context: { cluster: 'eks', user: 'eks' } }],
      'current-context': 'eks',
    }),
  });
  const { logs, logger } = capture();
  const transport = await openKubeTransport(join(dir, 'config'), { logger, sources: { env: {} } });
  t.match(logs.find((l) => String(l.msg).includes('client-node')), { level: 'info', reason: `exec plugin ${process.execPath}`, server: api.url });
  t.same(names((await transport.list('pods', { signal: never })).items), ['a'], 'listed with the plugin\'s token');
});

t.test('configuration errors reject with the same clear messages', async (t) => {
  const { logger } = capture();
  await t.rejects(openKubeTransport('/nonexistent/kubeconfig', { logger }), /cannot load kubeconfig \/nonexistent\/kubeconfig/);
});
