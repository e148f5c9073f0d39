import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildForE2e } from '../helpers/e2e-build.js';
import { childEnv, lastJsonLine, missingPrerequisites, searchPath, type Probe } from '../helpers/e2e-env.js';
import { makeNamespace, makePod } from '../helpers/fake-kube-api.js';
import { NetnsLab, removeLeftoverNamespaces } from '../helpers/netns.js';

/*
 * A bridge CNI (the bridge plugin, flannel, kubenet), in network namespaces this test makes:
 *
 *   driver (10.88.0.2, spark: role spark-etl) --veth--+
 *                                                      +-- br0 (10.88.0.1) on the node: corridor iptables install
 *   sneaky (10.88.0.3, other: no role)        --veth--+    --interface br0, the agent on 10.88.255.1:8181
 *
 * The attacker holds CAP_NET_RAW, as container runtimes grant by default: it tells the node by
 * ARP that the driver's IP is at its MAC, completes a TCP handshake from the driver's IP by hand
 * (test/e2e/attacker/forge_handshake.py) and asks the agent for the driver's role. The agent sees
 * the driver's address and answers as to the driver: what a bridge CNI does not prevent. So the
 * agent reports the shared bridge, and the recommended setup takes NET_RAW away (the chart's
 * netRawPolicy): then the same attack cannot even start, and the pod gets only what it is.
 */

const NODE_IP = '10.88.255.1';
const BRIDGE_IP = '10.88.0.1';
const NODE_NAME = 'node-bridge';
const AGENT_PORT = 8181;
const KUBE_PORT = 6443;
const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';
const PODS = {
  driver: { role: 'driver', veth: 'vethdrv', ip: '10.88.0.2' },
  sneaky: { role: 'sneaky', veth: 'vethsnk', ip: '10.88.0.3' },
} as const;
const OBJECTS = [
  makeNamespace('spark', { 'iam.amazonaws.com/role': 'spark-etl' }),
  makeNamespace('other', {}),
  makePod({ name: 'driver', namespace: 'spark', ip: PODS.driver.ip, nodeName: NODE_NAME }),
  makePod({ name: 'sneaky', namespace: 'other', ip: PODS.sneaky.ip, nodeName: NODE_NAME }),
];
const ATTACKER = fileURLToPath(new URL('./attacker/forge_handshake.py', import.meta.url));
const IPTABLES_INSTALL = fileURLToPath(new URL('../../iptables/install.sh', import.meta.url));

const missing = missingPrerequisites();
if (missing.length > 0) {
  t.plan(0, `bridge e2e skipped, this machine lacks: ${missing.join('; ')}`);
} else {
  process.env.PATH = searchPath().join(delimiter);
  t.setTimeout(240_000);
  t.test('on a shared bridge a pod with NET_RAW can pose as another pod: the agent reports the bridge, and without NET_RAW the attack gets nothing', async (t) => {
    await removeLeftoverNamespaces();
    const lab = new NetnsLab(childEnv());
    t.teardown(() => lab.destroy());
    lab.destroyOnExit();
    const dir = mkdtempSync(join(tmpdir(), 'corridor-bridge-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const build = await buildForE2e();

    const node = await lab.add('bnode');
    await lab.ip(node, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo');
    await lab.ip(node, 'link', 'add', 'br0', 'type', 'bridge');
    await lab.ip(node, 'addr', 'add', `${BRIDGE_IP}/24`, 'dev', 'br0');
    await lab.ip(node, 'link', 'set', 'br0', 'up');
    const pods = {} as Record<keyof typeof PODS, string>;
    for (const [key, pod] of Object.entries(PODS) as Array<[keyof typeof PODS, (typeof PODS)[keyof typeof PODS]]>) {
      const ns = await lab.add(pod.role);
      pods[key] = ns;
      await lab.ip(node, 'link', 'add', pod.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await lab.ip(node, 'link', 'set', pod.veth, 'master', 'br0');
      await lab.ip(node, 'link', 'set', pod.veth, 'up');
      await lab.ip(ns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0');
      await lab.ip(ns, 'link', 'set', 'eth0', 'up');
      await lab.ip(ns, 'route', 'add', 'default', 'via', BRIDGE_IP, 'dev', 'eth0');
    }
    // Strict reverse-path filtering, as hardened nodes set it: the forged source still arrives on br0, where it belongs.
    await lab.exec(node, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 1 > /proc/sys/net/ipv4/conf/br0/rp_filter']);

    const corridorBin = join(dir, 'corridor');
    writeFileSync(corridorBin, `#!/bin/sh\nexec "${process.execPath}" "${build.corridor}" "$@"\n`, { mode: 0o755 });
    const install = await lab.exec(node, ['bash', IPTABLES_INSTALL], { CORRIDOR_BIN: corridorBin, HOST_IP: NODE_IP, CORRIDOR_PORT: String(AGENT_PORT), CORRIDOR_INTERFACE: 'br0' });
    t.equal(install.code, 0, install.stderr);

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(join(dir, 'objects.json'), JSON.stringify(OBJECTS));
    await lab.start(node, [process.execPath, build.fixture('kube-api'), join(dir, 'objects.json'), String(KUBE_PORT), kubeconfig], (l) => l.includes('"ready":true'));
    let synced = false;
    let listening = false;
    const agent = await lab.start(
      node,
      // No STS here: the role listing is answered from the decision alone, and it is what the attack steals.
      [process.execPath, build.corridor, 'agent', '--node-name', NODE_NAME, '--host-ip', NODE_IP, '--port', String(AGENT_PORT), '--admin-host', '127.0.0.1', '--kubeconfig', kubeconfig, '--base-role-arn', 'arn:aws:iam::123456789012:role/', '--sts-endpoint', 'http://127.0.0.1:9', '--token-key-dir', ''],
      (line) => {
        listening ||= line.includes('corridor agent listening');
        synced ||= line.includes('kubernetes caches synced');
        return listening && synced;
      },
    );
    const probe = async (pod: string, url: string): Promise<Probe> => lastJsonLine<Probe>((await lab.exec(pod, [process.execPath, build.fixture('http-probe'), url])).stdout);
    const forge = async (withNetRaw: boolean): Promise<Probe> => {
      const attacker = ['python3', ATTACKER, PODS.driver.ip, BRIDGE_IP, CREDENTIALS_PATH];
      // Without NET_RAW in the bounding set, root's exec gets no NET_RAW: what dropping it in the pod spec does.
      const command = withNetRaw ? attacker : ['setpriv', '--bounding-set', '-net_raw', '--inh-caps', '-net_raw', '--', ...attacker];
      return lastJsonLine<Probe>((await lab.exec(pods.sneaky, command, {}, 20_000)).stdout);
    };

    await t.test('each pod asking as itself gets what it is', async (t) => {
      t.same(await probe(pods.driver, `http://169.254.169.254${CREDENTIALS_PATH}`), { status: 200, body: 'spark-etl' });
      t.match(await probe(pods.sneaky, `http://169.254.169.254${CREDENTIALS_PATH}`), { status: 404 });
    });

    await t.test('the agent reports that pods share an L2 bridge on this node', async (t) => {
      const warning = agent.lines.find((line) => line.includes('pods share an L2 bridge'));
      t.ok(warning, 'a start-up warning');
      t.match(JSON.parse(warning ?? '{}'), { level: 'warn', component: 'net', bridges: [{ bridge: 'br0', podPorts: 2 }] });
      const metrics = await probe(node, 'http://127.0.0.1:9181/metrics');
      t.match(metrics, { status: 200, body: /^corridor_pod_network_shared_bridges 1$/m });
    });

    await t.test('without NET_RAW (the recommended setup: netRawPolicy) the attack cannot start, and the pod gets only its own answer', async (t) => {
      t.match(await forge(false), { error: /^PermissionError/ });
      t.match(await probe(pods.sneaky, `http://169.254.169.254${CREDENTIALS_PATH}`), { status: 404 });
      t.same(await probe(pods.driver, `http://169.254.169.254${CREDENTIALS_PATH}`), { status: 200, body: 'spark-etl' }, 'and the driver is served as before');
    });
    await t.test('with NET_RAW (the runtime default) the forged handshake gets the driver\'s role: the exposure the report names', async (t) => {
      t.same(await forge(true), { status: 200, body: 'spark-etl' });
      // Last, as in the report: the node now sends the driver's packets to the attacker until its ARP entry is renewed.
    });

  });
}
