import t, { type Test } from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeSts } from '../../demo/index.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { freePort } from '../helpers/free-port.js';

async function cluster(t: Test): Promise<{ kubeconfig: string }> {
  const kube = await fakeKubeApi(t, {
    objects: [makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }), makePod({ name: 'driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' })],
  });
  const dir = mkdtempSync(join(tmpdir(), 'corridor-shutdown-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  return { kubeconfig: join(dir, 'kubeconfig') };
}

t.test('SIGTERM finishes the request in flight, then the agent exits 0', async (t) => {
  const sts = await startFakeSts({ latencyMs: 1500 });
  t.teardown(() => sts.close());
  const { kubeconfig } = await cluster(t);
  const port = await freePort();
  const adminPort = await freePort();

  const agent = spawnAgent(t, { port, adminPort, kubeconfig, stsUrl: sts.url });
  const { child } = agent;
  await within(agent.serving, 30_000, 'the agent to serve');

  // The prefetch for the driver's role is still waiting on the slow STS: this request joins it.
  let answered = false;
  const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/latest/meta-data/iam/security-credentials/spark-etl', localAddress: '127.0.0.2', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        answered = true;
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
  });
  // The agent logs its role decision for the driver when it has read the request, before it
  // waits for the session (the prefetch's call to the slow STS).
  await within(agent.logged('role decision'), 10_000, 'the agent to read the request');
  t.notOk(answered, 'the request is still in flight when SIGTERM is sent');
  const sentAt = Date.now();
  child.kill('SIGTERM');
  const answer = await within(inFlight, 10_000, 'the in-flight request');
  t.equal(answer.status, 200, 'the request in flight when SIGTERM arrived was answered');
  t.equal(JSON.parse(answer.body).Code, 'Success');
  const [code] = await within(once(child, 'exit') as Promise<[number | null]>, 10_000, 'the agent to exit');
  t.equal(code, 0, 'a clean exit');
  t.ok(Date.now() - sentAt < 10_000);
  t.match(agent.output(), /shutting down/);
  t.match(agent.output(), /corridor agent stopped/);
});

t.test('a metadata port already in use ends the agent with exit code 1 and one clear line, not a hanging process', async (t) => {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const { kubeconfig } = await cluster(t);
  const taken = http.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const agent = spawnAgent(t, { port, adminPort: await freePort(), kubeconfig, stsUrl: sts.url });
  const { child } = agent;
  const [code] = await within(once(child, 'exit') as Promise<[number | null]>, 30_000, 'the agent to exit');
  t.equal(code, 1);
  t.match(agent.output(), /corridor: listen EADDRINUSE/);
});
