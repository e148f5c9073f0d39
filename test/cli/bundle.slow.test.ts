import t from 'tap';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startFakeSts } from '../../demo/index.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';

// The file the image runs (scripts/bundle.sh): built into a directory of this test's, then run by
// this Node with no node_modules involved but what esbuild put in it.
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = t.testdir({});
const bundle = join(dir, 'corridor.mjs');

function get(port: number, from: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const corridor = (...args: string[]) => run(process.execPath, [bundle, ...args], { env: { PATH: process.env.PATH } }).then(
  (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
  (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
);

t.before(async () => {
  await run('bash', [join(ROOT, 'scripts/bundle.sh')], { cwd: ROOT, env: { ...process.env, CORRIDOR_BUNDLE_DIR: dir } });
});

t.test('the bundle lists the commands, and parses each command\'s flags as the built CLI does', async (t) => {
  const help = await corridor('--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: corridor <command>/);
  for (const command of ['agent', 'iptables', 'token-key', 'explain', 'audit']) t.match(help.stdout, new RegExp(`\\n  ${command} `));
  const iptables = await corridor('iptables', 'install', '--port', '70000');
  t.equal(iptables.code, 2, 'a bad flag value: exit 2');
  t.match(iptables.stderr, /--port/);
});

t.test('the demo is not in the bundle, and says so', async (t) => {
  const demo = await corridor('demo', '--once');
  t.equal(demo.code, 2);
  t.match(demo.stderr, /the demo is not part of this build/);
});

t.test('the bundled agent serves a pod its role\'s credentials and reports its version', async (t) => {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const kube = await fakeKubeApi(t, {
    objects: [makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }), makePod({ name: 'driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' })],
  });
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  const settings = { port: await freePort(), adminPort: await freePort(), kubeconfig: join(dir, 'kubeconfig'), stsUrl: sts.url, command: [process.execPath, bundle] };
  const agent = spawnAgent(t, settings);
  await within(agent.serving, 30_000, 'the bundled agent to serve');
  const listing = await get(settings.port, '127.0.0.2', '/latest/meta-data/iam/security-credentials/');
  t.equal(listing.body, 'spark-etl');
  const document = await get(settings.port, '127.0.0.2', '/latest/meta-data/iam/security-credentials/spark-etl');
  t.equal(document.status, 200);
  t.match(JSON.parse(document.body), { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: String });
  const metrics = await get(settings.adminPort, '127.0.0.1', '/metrics');
  const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
  t.match(metrics.body, `corridor_build_info{version="${version}"} 1`, 'the version esbuild wrote in');
});
