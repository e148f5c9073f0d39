import t, { type Test } from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeSts } from '../../demo/index.js';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';

const CREDS = '/latest/meta-data/iam/security-credentials/spark-etl';

function request(port: number, from: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const mintToken = async (port: number, from: string) => {
  const res = await request(port, from, '/latest/api/token', 'PUT', { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' });
  if (res.status !== 200) throw new Error(`token PUT got ${res.status}`);
  return res.body;
};
const withToken = (token: string) => ({ 'x-aws-ec2-metadata-token': token });

/** Two pods of one namespace on node-a (127.0.0.2 and 127.0.0.3), an STS stand-in, a key directory. */
async function node(t: Test) {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const kube = await fakeKubeApi(t, {
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }),
      makePod({ name: 'driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
      makePod({ name: 'executor', namespace: 'gha', ip: '127.0.0.3', nodeName: 'node-a' }),
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'corridor-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  const settings = { port: await freePort(), adminPort: await freePort(), kubeconfig: join(dir, 'kubeconfig'), stsUrl: sts.url, tokenKeyDir: join(dir, 'keys') };
  return {
    settings,
    async start(): Promise<AgentProcess> {
      const agent = spawnAgent(t, settings);
      await within(agent.serving, 30_000, 'the agent to serve');
      return agent;
    },
  };
}

async function kill(agent: AgentProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = once(agent.child, 'exit');
  agent.child.kill(signal);
  await within(exited, 10_000, 'the agent to exit');
}

t.test('a token minted before an agent restart is accepted after it, for the IP it was minted for only', async (t) => {
  const n = await node(t);
  const { port } = n.settings;
  const first = await n.start();
  const driverToken = await mintToken(port, '127.0.0.2');
  const executorToken = await mintToken(port, '127.0.0.3');
  t.equal((await request(port, '127.0.0.2', CREDS, 'GET', withToken(driverToken))).status, 200, 'accepted by the agent that minted it');

  // An OOM kill: no shutdown code runs.
  await kill(first, 'SIGKILL');
  const second = await n.start();
  const after = await request(port, '127.0.0.2', CREDS, 'GET', withToken(driverToken));
  t.equal(after.status, 200, 'the same token is accepted by the restarted agent');
  t.equal(JSON.parse(after.body).Code, 'Success');
  t.equal((await request(port, '127.0.0.2', CREDS, 'GET', withToken(executorToken))).status, 401, 'a token minted for another IP is refused');
  t.equal((await request(port, '127.0.0.3', CREDS, 'GET', withToken(executorToken))).status, 200, 'and accepted from its own IP');

  // A rollout: SIGTERM, then a new process.
  await kill(second, 'SIGTERM');
  await n.start();
  t.equal((await request(port, '127.0.0.2', CREDS, 'GET', withToken(driverToken))).status, 200, 'and after a second restart');
  t.same(readdirSync(n.settings.tokenKeyDir), ['key-1'], 'one key, kept on the node');
  t.equal(statSync(join(n.settings.tokenKeyDir, 'key-1')).mode & 0o777, 0o600);
  t.equal(statSync(n.settings.tokenKeyDir).mode & 0o777, 0o700);
});

t.test('a corrupt key file gives a warning line and the agent keeps serving with a new key', async (t) => {
  const n = await node(t);
  const { port } = n.settings;
  const first = await n.start();
  const oldToken = await mintToken(port, '127.0.0.2');
  await kill(first, 'SIGKILL');
  writeFileSync(join(n.settings.tokenKeyDir, 'key-1'), '{"v":1,"created":17');

  const second = await n.start();
  const warning = second
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.level === 'warn' && line.component === 'token-keys');
  t.match(warning, { file: 'key-1', msg: /token key file unusable/, reason: /not valid JSON/ }, 'one clear warning naming the file');
  t.equal(second.child.exitCode, null, 'still running');
  t.equal((await request(port, '127.0.0.2', CREDS, 'GET', withToken(oldToken))).status, 401, 'the lost key\'s tokens are refused (SDKs then fetch a new token)');
  const fresh = await mintToken(port, '127.0.0.2');
  t.match(fresh, /^c2\.2\./, 'signed with a new key file');
  t.equal((await request(port, '127.0.0.2', CREDS, 'GET', withToken(fresh))).status, 200, 'the agent serves');
  t.same(readdirSync(n.settings.tokenKeyDir).sort(), ['key-1', 'key-2']);
});
