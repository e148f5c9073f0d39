import t, { type Test } from 'tap';
import http from 'node:http';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeSts } from '../../demo/index.js';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';

// Two agents share the metadata and admin ports through SO_REUSEPORT, which `listen` takes from
// Node.js 22.12 on; before, the successor's bind fails.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const NETNS_ENV = 'CORRIDOR_HANDOVER_NETNS';
// The node's setting the handover relies on (docs/operators.md): a listener that closes hands the
// connections in its accept queue to the successor's, instead of resetting them. The tests run in
// a network namespace of their own to set it, never on the machine's.
const SETUP = 'ip link set lo up && echo 1 > /proc/sys/net/ipv4/tcp_migrate_req && exec "$@"';
const UNSHARE = process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];

if (major < 22 || (major === 22 && minor < 12)) {
  t.plan(0, `SO_REUSEPORT (listen's reusePort) needs Node.js 22.12 or later; this is ${process.version}`);
} else if (process.env[NETNS_ENV] !== '1') {
  const check = spawnSync('unshare', [...UNSHARE, 'sh', '-c', SETUP, 'sh', 'true'], { encoding: 'utf8' });
  if (check.status !== 0) {
    t.plan(0, `cannot make a network namespace with tcp_migrate_req here (unshare, iproute2): ${(check.stderr || String(check.error)).trim()}`);
  } else {
    void t.spawn('unshare', [...UNSHARE, 'sh', '-c', SETUP, 'sh', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, [NETNS_ENV]: '1' },
    }, 'in a network namespace of its own, with net.ipv4.tcp_migrate_req=1 as the node sets it');
  }
} else {
  handoverTests();
}

const CREDS = '/latest/meta-data/iam/security-credentials/spark-etl';
const ENTRY = fileURLToPath(new URL('../../src/cli/corridor.ts', import.meta.url));

async function node(t: Test) {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const kube = await fakeKubeApi(t, {
    objects: [makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }), makePod({ name: 'driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' })],
  });
  const dir = mkdtempSync(join(tmpdir(), 'corridor-handover-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  const settings = { port: await freePort(), adminPort: await freePort(), kubeconfig: join(dir, 'kubeconfig'), stsUrl: sts.url, tokenKeyDir: join(dir, 'keys') };
  return {
    settings,
    start: (handoverTimeout: string) => spawnAgent(t, { ...settings, flags: ['--handover-timeout', handoverTimeout] }),
  };
}

/** A pod asking for its credentials on a new connection every 20 ms until stopped: each outcome in order. */
function poll(port: number) {
  const outcomes: string[] = [];
  let stopped = false;
  const once = () =>
    new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: CREDS, localAddress: '127.0.0.2', agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
  const done = (async () => {
    while (!stopped) {
      outcomes.push(await once());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    outcomes,
    async stop() {
      stopped = true;
      await done;
      return outcomes;
    },
  };
}

async function exitOf(agent: AgentProcess): Promise<number | null> {
  const [code] = (await within(once(agent.child, 'exit'), 30_000, 'the agent to exit')) as [number | null];
  return code;
}

function handoverTests(): void {
  t.test('a pod delete: the old agent keeps serving after SIGTERM until its successor listens, then hands over; no call fails', async (t) => {
    const n = await node(t);
    const old = n.start('20s');
    await within(old.serving, 30_000, 'the first agent to serve');
    const pod = poll(n.settings.port);
    await within(new Promise((resolve) => setTimeout(resolve, 300)), 1000, 'a few calls');

    // The DaemonSet (maxSurge) creates the successor as the old pod gets SIGTERM: the old one first.
    old.child.kill('SIGTERM');
    await within(old.logged('shutting down'), 10_000, 'the old agent to start its shutdown');
    const successor = n.start('20s');
    await within(successor.serving, 30_000, 'the successor to serve');
    await within(old.logged('handing over to it'), 10_000, 'the old agent to see its successor');
    t.equal(await exitOf(old), 0, 'the old agent exits 0 once it has handed over');
    await within(new Promise((resolve) => setTimeout(resolve, 300)), 1000, 'a few calls to the successor alone');
    const outcomes = await pod.stop();

    t.ok(outcomes.length > 20, `the pod made ${outcomes.length} calls`);
    t.same(outcomes.filter((outcome) => outcome !== '200'), [], 'every call was answered 200: none refused, reset or waiting');
    t.match(successor.output(), /credentials served/, 'the successor answered some of them');
  });

  t.test('an upgrade: the successor starts beside the serving agent; the old one hands over at once when stopped', async (t) => {
    const n = await node(t);
    const old = n.start('20s');
    await within(old.serving, 30_000, 'the first agent to serve');
    const pod = poll(n.settings.port);
    const successor = n.start('20s');
    await within(successor.serving, 30_000, 'the successor to serve beside it');
    const stoppedAt = Date.now();
    old.child.kill('SIGTERM');
    t.equal(await exitOf(old), 0);
    t.ok(Date.now() - stoppedAt < 5000, 'no wait: the successor already listened');
    t.match(old.output(), /another agent listens on the metadata port: handing over to it/);
    const outcomes = await pod.stop();
    t.same(outcomes.filter((outcome) => outcome !== '200'), [], `all ${outcomes.length} calls answered 200`);
  });

  t.test('with no successor (an uninstall), a stopping agent serves for --handover-timeout, then exits', async (t) => {
    const n = await node(t);
    const agent = n.start('1s');
    await within(agent.serving, 30_000, 'the agent to serve');
    const stoppedAt = Date.now();
    agent.child.kill('SIGTERM');
    t.equal(await exitOf(agent), 0);
    const took = Date.now() - stoppedAt;
    t.ok(took >= 1000 && took < 10_000, `it stopped after the timeout (${took} ms)`);
    t.match(agent.output(), /no other agent listens on the metadata port: stopping anyway/);
  });

  t.test('corridor probe passes for the agent process that listens on the metadata port, not for another process of the node', async (t) => {
    const n = await node(t);
    const agent = n.start('0');
    await within(agent.serving, 30_000, 'the agent to serve');
    const probe = (pid: number) =>
      new Promise<{ code: number; output: string }>((resolve) => {
        execFile(process.execPath, [...process.execArgv, ENTRY, 'probe', '--host-ip', '127.0.0.1', '--port', String(n.settings.port), '--pid', String(pid)], (error, stdout, stderr) => {
          resolve({ code: typeof error?.code === 'number' ? error.code : 0, output: stdout + stderr });
        });
      });
    const serving = await probe(agent.child.pid ?? 0);
    t.equal(serving.code, 0, serving.output);
    const other = await probe(process.pid);
    t.equal(other.code, 1, 'this test process has no socket on the port');
    t.match(other.output, /does not listen on 127\.0\.0\.1:\d+ \(yet\)/);
  });
}
