import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildForE2e } from '../helpers/e2e-build.js';
import { makeNamespace, makePod } from '../helpers/fake-kube-api.js';
import { startMoto } from '../helpers/moto.js';
import { childEnv, lastJsonLine, missingPrerequisites, searchPath, type Probe } from '../helpers/e2e-env.js';
import { NetnsLab, removeLeftoverNamespaces } from '../helpers/netns.js';

/*
 * The node path end to end, on real iptables and real sockets, inside network namespaces this
 * test makes (nothing touches the machine's own network namespace):
 *
 *   pod-a (10.77.0.2, fd00:77::2) --veth cvethA--+
 *                                                +-- node: iptables and ip6tables (corridor iptables install --interface cveth+)
 *   pod-b (10.77.0.3, fd00:77::3) --veth cvethB--+        agent on 10.77.255.1:8181 and [fd00:77:ff::1]:8181,
 *                                                |        Kubernetes API stand-in, moto as STS, and the node's
 *                                                |        "real" IMDS on 169.254.169.254
 *                                                +-- veth cimds6 -- imds6: the node's IMDS IPv6 endpoint, [fd00:ec2::254]:80
 *
 * Pods call 169.254.169.254 with default SDK settings, exactly as in a cluster, and
 * [fd00:ec2::254] as an SDK does with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6. The IPv6
 * endpoint sits one hop beyond the node, as on EC2 (it is not a node address there), so pods'
 * packets to it are routed: what the ip6tables FORWARD REJECT must stop when no DNAT takes them.
 */

const NODE_IP = '10.77.255.1';
const NODE_IP6 = 'fd00:77:ff::1';
const NODE_NAME = 'node-e2e';
const AGENT_PORT = 8181;
const KUBE_PORT = 6443;
const MOTO_PORT = 5000;
const INTERFACE = 'cveth+';
const IMDS = 'http://169.254.169.254';
const IMDS6 = 'http://[fd00:ec2::254]';
const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';
const BASE_ROLE_ARN = 'arn:aws:iam::123456789012:role/';
const SPARK_ETL_ARN = `arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.${NODE_NAME}`;

const PODS = {
  a: { role: 'pod-a', veth: 'cvethA', ip: '10.77.0.2', ip6: 'fd00:77::2' },
  b: { role: 'pod-b', veth: 'cvethB', ip: '10.77.0.3', ip6: 'fd00:77::3' },
} as const;

const OBJECTS = [
  // The corridor of team gha: spark-etl for every pod, other spark-* roles on request.
  makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }),
  makeNamespace('gha1', { 'iam.amazonaws.com/allowed-roles': '["ingest-*"]' }),
  // Dual-stack pods: status.podIPs holds both addresses.
  makePod({ name: 'spark-driver', namespace: 'gha', ip: PODS.a.ip, moreIps: [PODS.a.ip6], nodeName: NODE_NAME }),
  // Asks for a role outside its namespace's corridor.
  makePod({ name: 'intruder', namespace: 'gha1', ip: PODS.b.ip, moreIps: [PODS.b.ip6], nodeName: NODE_NAME, annotations: { 'iam.amazonaws.com/role': 'spark-etl' } }),
];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOTOCORE_CLIENT = join(ROOT, 'test/peers/botocore_client.py');
const IPTABLES_SCRIPTS = join(ROOT, 'iptables');

/** Namespaces, addresses and routes: the node with its two "real" addresses, and each pod behind a veth. */
async function buildTopology(lab: NetnsLab): Promise<{ node: string; imds6: string; pods: Record<keyof typeof PODS, string> }> {
  const node = await lab.add('node');
  // The node's primary address (what status.hostIP would be), where the agent and moto listen,
  // and the real metadata service's address. Both on lo rather than a dummy interface: not every
  // kernel has the dummy module (Firecracker VMs do not), and a /32 on lo is just as local.
  await lab.ip(node, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo');
  await lab.ip(node, 'addr', 'add', '169.254.169.254/32', 'dev', 'lo');
  await lab.ip(node, '-6', 'addr', 'add', `${NODE_IP6}/128`, 'dev', 'lo', 'nodad');
  const forward = await lab.exec(node, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding']);
  if (forward.code !== 0) throw new Error(`enabling forwarding in ${node}: ${forward.stderr}`);

  // The IMDS IPv6 endpoint beyond the node's link. Fixed link-local addresses (nodad) on both
  // ends of each veth, so nothing waits for duplicate address detection.
  const imds6 = await lab.add('imds6');
  await lab.ip(node, 'link', 'add', 'cimds6', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', imds6);
  await lab.ip(node, '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'cimds6', 'nodad');
  await lab.ip(node, 'link', 'set', 'cimds6', 'up');
  await lab.ip(imds6, '-6', 'addr', 'add', 'fe80::2/64', 'dev', 'eth0', 'nodad');
  await lab.ip(imds6, '-6', 'addr', 'add', 'fd00:ec2::254/128', 'dev', 'eth0', 'nodad');
  await lab.ip(imds6, 'link', 'set', 'eth0', 'up');
  await lab.ip(imds6, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0');
  await lab.ip(node, '-6', 'route', 'add', 'fd00:ec2::254/128', 'via', 'fe80::2', 'dev', 'cimds6');

  const pods = {} as Record<keyof typeof PODS, string>;
  for (const [key, pod] of Object.entries(PODS) as Array<[keyof typeof PODS, (typeof PODS)[keyof typeof PODS]]>) {
    const ns = await lab.add(pod.role);
    pods[key] = ns;
    // A routed veth per pod, as Calico and the AWS VPC CNI do; the node side matches cveth+.
    await lab.ip(node, 'link', 'add', pod.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await lab.ip(node, 'link', 'set', pod.veth, 'up');
    await lab.ip(node, 'route', 'add', `${pod.ip}/32`, 'dev', pod.veth);
    await lab.ip(ns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await lab.ip(ns, 'link', 'set', 'eth0', 'up');
    await lab.ip(ns, 'route', 'add', `${NODE_IP}/32`, 'dev', 'eth0', 'scope', 'link');
    await lab.ip(ns, 'route', 'add', 'default', 'via', NODE_IP, 'dev', 'eth0');
    // IPv6 as Calico does it: the pod's /128, and the node's side of the veth as its gateway.
    await lab.ip(node, '-6', 'addr', 'add', 'fe80::1/64', 'dev', pod.veth, 'nodad');
    await lab.ip(node, '-6', 'route', 'add', `${pod.ip6}/128`, 'dev', pod.veth);
    await lab.ip(ns, '-6', 'addr', 'add', `${pod.ip6}/128`, 'dev', 'eth0', 'nodad');
    await lab.ip(ns, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0');
  }
  return { node, imds6, pods };
}

const missing = missingPrerequisites();
if (missing.length > 0) {
  t.plan(0, `node-path e2e skipped, this machine lacks: ${missing.join('; ')}`);
} else {
  // ip, iptables and moto's `ip netns exec` are started from this process too; sbin may be off its PATH.
  process.env.PATH = searchPath().join(delimiter);
  // About 40 s on an idle machine; a cold build on a busy CI runner can pass the suite's 120 s.
  t.setTimeout(280_000); // about 45 s on a quiet machine; several times that when it is busy
  t.test('pods reach only corridor through the node\'s iptables rules, and nothing when the agent is down', async (t) => {
    const started = Date.now();
    const leftovers = await removeLeftoverNamespaces();
    if (leftovers.length > 0) t.comment(`removed namespaces left by an earlier crashed run: ${leftovers.join(', ')}`);

    const env = childEnv();
    const lab = new NetnsLab(env);
    t.teardown(() => lab.destroy());
    lab.destroyOnExit();
    const dir = mkdtempSync(join(tmpdir(), 'corridor-e2e-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));

    const buildPromise = buildForE2e();
    // Keep a failing build from surfacing as an unhandled rejection while the topology is built.
    buildPromise.catch(() => undefined);
    const { node, imds6, pods } = await buildTopology(lab);
    const [build, moto] = await Promise.all([buildPromise, startMoto(t, { netns: node, host: NODE_IP, port: MOTO_PORT })]);
    t.comment(`built and moto up after ${Date.now() - started} ms`);

    // `corridor` on PATH for the iptables/ scripts, as in the image.
    const corridorBin = join(dir, 'corridor');
    writeFileSync(corridorBin, `#!/bin/sh\nexec "${process.execPath}" "${build.corridor}" "$@"\n`);
    chmodSync(corridorBin, 0o755);
    const corridor = (...args: string[]) => lab.exec(node, [process.execPath, build.corridor, ...args]);
    // The init container's scripts, with the DaemonSet's environment.
    const script = (name: string, extraEnv: NodeJS.ProcessEnv = {}) =>
      lab.exec(node, ['bash', join(IPTABLES_SCRIPTS, name)], { CORRIDOR_BIN: corridorBin, HOST_IP: NODE_IP, CORRIDOR_PORT: String(AGENT_PORT), CORRIDOR_INTERFACE: INTERFACE, ...extraEnv });
    const natTable = async () => (await lab.exec(node, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const ip6Tables = async () => (await lab.exec(node, ['ip6tables-save'])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const probe = async (pod: string, path: string, imdsv2 = false, base = IMDS): Promise<Probe> =>
      lastJsonLine<Probe>((await lab.exec(pod, [process.execPath, build.fixture('http-probe'), `${base}${path}`, ...(imdsv2 ? ['--imdsv2'] : [])])).stdout);
    const probe6 = (pod: string, path: string, imdsv2 = false) => probe(pod, path, imdsv2, IMDS6);
    const botocore = async (pod: string) =>
      lastJsonLine<{ method?: string; rounds?: Array<{ arn?: string }>; error?: string }>((await lab.exec(pod, ['python3', BOTOCORE_CLIENT, '--sts-endpoint', moto.endpoint])).stdout);
    const sdkJs = async (pod: string, env: NodeJS.ProcessEnv = {}) =>
      lastJsonLine<{ arn?: string; accessKeyId?: string; expiration?: string; error?: string }>((await lab.exec(pod, [process.execPath, build.fixture('sdk-js-client'), moto.endpoint], env)).stdout);
    const IPV6_SDK = { AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' };

    const secret = `node-secret-${randomBytes(8).toString('hex')}`;
    const nodeImds = await lab.start(node, [process.execPath, build.fixture('node-imds')], (l) => l.includes('"ready":true'), { NODE_SECRET: secret });
    // The same node's metadata service on its IPv6 endpoint, with the same secret.
    const nodeImds6 = await lab.start(imds6, [process.execPath, build.fixture('node-imds')], (l) => l.includes('"ready":true'), { NODE_SECRET: secret, IMDS_HOST: 'fd00:ec2::254' });
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(join(dir, 'objects.json'), JSON.stringify(OBJECTS));
    await lab.start(node, [process.execPath, build.fixture('kube-api'), join(dir, 'objects.json'), String(KUBE_PORT), kubeconfig], (l) => l.includes('"ready":true'));

    const podRequestsToNodeImds = () =>
      nodeImds.lines.filter((l) => l.startsWith('{"method"')).map((l) => JSON.parse(l) as { path: string; from: string }).filter((r) => /10\.77\.0\./.test(r.from));
    // Every request the IPv6 endpoint saw came from a pod: nothing else on the node calls it.
    const requestsToNodeImds6 = () => nodeImds6.lines.filter((l) => l.startsWith('{"method"')).map((l) => JSON.parse(l) as { path: string; from: string });

    await t.test('without corridor\'s rules a pod reaches the node\'s metadata service, on both addresses (the holes being closed)', async (t) => {
      const answer = await probe(pods.a, '/latest/user-data');
      t.match(answer, { status: 200 });
      t.ok('body' in answer && answer.body.includes(secret), 'the node\'s user-data secret is readable from the pod');
      const answer6 = await probe6(pods.a, '/latest/user-data');
      t.match(answer6, { status: 200 }, 'and over IPv6, at [fd00:ec2::254]');
      t.ok('body' in answer6 && answer6.body.includes(secret));
      t.match(requestsToNodeImds6(), [{ from: PODS.a.ip6 }], 'from the pod\'s IPv6 address');
    });
    const leaksBeforeInstall = podRequestsToNodeImds().length;
    const leaks6BeforeInstall = requestsToNodeImds6().length;

    await t.test('iptables install on a node without an IPv6 address: pods\' IPv6 metadata traffic is refused by the filter REJECT', async (t) => {
      const first = await script('install.sh');
      t.equal(first.code, 0, first.stderr);
      t.match(first.stdout, /created nat chain CORRIDOR-IMDS .*inserted the PREROUTING jump.*created ip6tables filter chain CORRIDOR-IMDS with 1 REJECT rule.*inserted the ip6tables FORWARD jump/);
      const v6 = await ip6Tables();
      t.match(v6, /-A FORWARD -d fd00:ec2::254\/128 -p tcp -m tcp --dport 80 -j CORRIDOR-IMDS/);
      t.match(v6, /-A CORRIDOR-IMDS -d fd00:ec2::254\/128 -i cveth\+ -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset/);
      t.notMatch(v6, /DNAT/, 'no DNAT without an IPv6 address');
      for (const path of ['/latest/user-data', `${CREDENTIALS_PATH}node-role`]) t.match(await probe6(pods.a, path), { error: 'ECONNREFUSED' }, `[fd00:ec2::254]${path}: refused`);
      t.match(await sdkJs(pods.a, IPV6_SDK), { error: /./ }, 'an SDK in IPv6 endpoint mode gets nothing');
    });

    let installed = '';
    let installed6 = '';
    await t.test('iptables install (the init container\'s script, with status.hostIPs) adds the IPv6 DNAT; it is idempotent, and check agrees', async (t) => {
      // status.hostIPs as the Downward API gives it: both addresses, comma-separated.
      const first = await script('install.sh', { CORRIDOR_HOST_IPV6: `${NODE_IP},${NODE_IP6}` });
      t.equal(first.code, 0, first.stderr);
      t.match(first.stdout, /^corridor iptables install: created ip6tables nat chain CORRIDOR-IMDS with 1 DNAT rule\(s\) to \[fd00:77:ff::1\]:8181; inserted the ip6tables PREROUTING jump/, 'only the IPv6 DNAT was missing');
      installed = await natTable();
      t.match(installed, /-A PREROUTING -d 169\.254\.169\.254\/32 -p tcp -m tcp --dport 80 -j CORRIDOR-IMDS/);
      t.match(installed, new RegExp(`-A CORRIDOR-IMDS -d 169\\.254\\.169\\.254/32 -i cveth\\+ -p tcp -m tcp --dport 80 -j DNAT --to-destination ${NODE_IP.replace(/\./g, '\\.')}:${AGENT_PORT}`));
      installed6 = await ip6Tables();
      t.match(installed6, /-A PREROUTING -d fd00:ec2::254\/128 -p tcp -m tcp --dport 80 -j CORRIDOR-IMDS/);
      t.match(installed6, /-A CORRIDOR-IMDS -d fd00:ec2::254\/128 -i cveth\+ -p tcp -m tcp --dport 80 -j DNAT --to-destination \[fd00:77:ff::1\]:8181/);
      t.match(installed6, /-A CORRIDOR-IMDS -d fd00:ec2::254\/128 -i cveth\+ -p tcp -m tcp --dport 80 -j REJECT/, 'the REJECT stays as the backstop');

      const second = await corridor('iptables', 'install', '--host-ip', NODE_IP, '--host-ipv6', NODE_IP6, '--port', String(AGENT_PORT), '--interface', INTERFACE);
      t.equal(second.code, 0, second.stderr);
      t.match(second.stdout, /already in place, nothing changed/);
      t.equal(await natTable(), installed, 'the second install left the nat table exactly as it was');
      t.equal(await ip6Tables(), installed6, 'and ip6tables too');

      const check = await script('check.sh', { CORRIDOR_HOST_IPV6: `${NODE_IP},${NODE_IP6}` });
      t.equal(check.code, 0, check.stderr);
      t.match(check.stdout, /check: ok \(-i cveth\+ -> 10\.77\.255\.1:8181; IPv6 -i cveth\+ -> \[fd00:77:ff::1\]:8181\)/);
    });

    await t.test('before the agent listens, a pod\'s metadata request is refused: fail closed from the start', async (t) => {
      t.match(await probe(pods.a, CREDENTIALS_PATH), { error: 'ECONNREFUSED' });
      t.match(await probe6(pods.a, CREDENTIALS_PATH), { error: 'ECONNREFUSED' }, 'over IPv6 too: DNAT to a port nobody listens on');
    });

    const startAgent = () =>
      lab.start(
        node,
        [process.execPath, build.corridor, 'agent', '--node-name', NODE_NAME, '--host-ip', NODE_IP, '--port', String(AGENT_PORT), '--admin-host', '127.0.0.1', '--admin-port', '9181', '--kubeconfig', kubeconfig, '--base-role-arn', BASE_ROLE_ARN, '--sts-endpoint', moto.endpoint, '--log-level', 'info', '--token-key-dir', '',
          // One agent at a time on this node: nothing to hand over to on SIGTERM.
          '--handover-timeout', '0'],
        (() => {
          // Ready when it listens and has listed pods and namespaces (either may come first).
          let listening = false;
          let synced = false;
          return (line: string) => {
            listening ||= line.includes('corridor agent listening');
            synced ||= line.includes('kubernetes caches synced');
            return listening && synced;
          };
        })(),
        // The agent's own identity: the default SDK chain, which on a node ends at the real IMDS.
        // Its IPv6 address as the chart passes it: status.hostIPs.
        { AWS_REGION: 'us-east-1', CORRIDOR_HOST_IPV6: `${NODE_IP},${NODE_IP6}` },
      );
    const agent = await startAgent();

    await t.test('botocore and the AWS SDK for JavaScript in a corridor pod get its role, with default settings', async (t) => {
      const python = await botocore(pods.a);
      t.equal(python.method, 'iam-role', 'botocore found credentials with its instance-metadata provider');
      t.equal(python.rounds?.[0]?.arn, SPARK_ETL_ARN, 'sts get-caller-identity names the corridor role');
      const js = await sdkJs(pods.a);
      t.equal(js.arn, SPARK_ETL_ARN, 'fromInstanceMetadata() credentials are the corridor role\'s');
      t.notMatch(js.accessKeyId ?? '', /NODEROLE/, 'not the node role\'s keys');
      t.ok(js.expiration && Date.parse(js.expiration) - Date.now() > 25 * 60_000, 'at least min-remaining left');
    });

    await t.test('a pod asking for a role outside its namespace\'s corridor gets no credentials', async (t) => {
      t.match(await botocore(pods.b), { error: 'no credentials found' });
      t.match(await sdkJs(pods.b), { error: /./ });
      const listing = await probe(pods.b, CREDENTIALS_PATH, true);
      t.match(listing, { status: 404 });
      t.ok(agent.lines.some((l) => l.includes('"pod":"intruder"') && l.includes('"decision":"deny"')), 'the agent wrote an audit line for the denial');
    });

    await t.test('from a pod, the node\'s role and user-data are unreachable; the allowlisted region passes through', async (t) => {
      const listing = await probe(pods.a, CREDENTIALS_PATH, true);
      t.same(listing, { status: 200, body: 'spark-etl' }, 'the pod sees its own role, not node-role');
      for (const path of [`${CREDENTIALS_PATH}node-role`, '/latest/user-data', '/latest/user-data/']) {
        for (const imdsv2 of [false, true]) {
          const answer = await probe(pods.a, path, imdsv2);
          t.match(answer, { status: 404 }, `${path} over IMDSv${imdsv2 ? 2 : 1}: 404 from the agent`);
          t.notMatch(JSON.stringify(answer), secret, 'no trace of the node\'s secret');
        }
      }
      t.same(await probe(pods.a, '/latest/meta-data/placement/region', true), { status: 200, body: 'eu-west-3' }, 'the agent proxied the region from the node\'s metadata service');
    });

    await t.test('the agent\'s port takes only what came through the DNAT, and the node itself: a pod dialling it directly is refused', async (t) => {
      t.match(await probe(pods.a, CREDENTIALS_PATH, false, `http://${NODE_IP}:${AGENT_PORT}`), { error: 'ECONNREFUSED' }, `${NODE_IP}:${AGENT_PORT} from a pod: reset by the port guard`);
      t.match(await probe(pods.a, CREDENTIALS_PATH, false, `http://[${NODE_IP6}]:${AGENT_PORT}`), { error: 'ECONNREFUSED' }, 'and over IPv6');
      t.same(await probe(pods.a, CREDENTIALS_PATH), { status: 200, body: 'spark-etl' }, 'through the DNAT the same pod is served');
      t.match(await probe(node, CREDENTIALS_PATH, false, `http://${NODE_IP}:${AGENT_PORT}`), { status: 404 }, 'the node itself reaches the port (and is no pod)');
    });

    await t.test('a dual-stack pod gets its role over IPv6 through the DNAT, and is recognised by its IPv6 address', async (t) => {
      const js = await sdkJs(pods.a, IPV6_SDK);
      t.equal(js.arn, SPARK_ETL_ARN, 'fromInstanceMetadata() in IPv6 endpoint mode: the corridor role');
      t.notMatch(js.accessKeyId ?? '', /NODEROLE/);
      t.same(await probe6(pods.a, CREDENTIALS_PATH, true), { status: 200, body: 'spark-etl' }, 'IMDSv2 over IPv6');
      for (const path of [`${CREDENTIALS_PATH}node-role`, '/latest/user-data']) {
        const answer = await probe6(pods.a, path);
        t.match(answer, { status: 404 }, `[fd00:ec2::254]${path}: 404 from the agent`);
        t.notMatch(JSON.stringify(answer), secret);
      }
      const intruder = await probe6(pods.b, CREDENTIALS_PATH, true);
      t.match(intruder, { status: 404 }, 'the intruder, by its IPv6 address, is still denied');
      t.notMatch(JSON.stringify(intruder), /no pod on this node has IP/, 'as the pod it is, not as an unknown caller');
      t.match(await sdkJs(pods.b, IPV6_SDK), { error: /./ });
    });

    await t.test('after SIGTERM the agent exits and pods\' metadata requests are refused, never answered by the node', async (t) => {
      t.equal(await agent.stop(), 0, 'the agent exited 0');
      for (const path of [CREDENTIALS_PATH, `${CREDENTIALS_PATH}node-role`, '/latest/user-data']) {
        t.match(await probe(pods.a, path), { error: 'ECONNREFUSED' }, `${path}: connection refused`);
        t.match(await probe6(pods.a, path), { error: 'ECONNREFUSED' }, `[fd00:ec2::254]${path}: connection refused`);
      }
      t.match(await botocore(pods.a), { error: 'no credentials found' }, 'botocore finds no credentials at all');
      t.match(await sdkJs(pods.a, IPV6_SDK), { error: /./ }, 'nor the JavaScript SDK over IPv6');
      t.equal(await natTable(), installed, 'the rules stay in place while the agent is down');
      t.equal(await ip6Tables(), installed6, 'the IPv6 rules too');
    });

    await t.test('after a restart the agent serves both addresses again; the node\'s IPv6 endpoint never saw a pod', async (t) => {
      const restarted = await startAgent();
      t.equal((await sdkJs(pods.a, IPV6_SDK)).arn, SPARK_ETL_ARN, 'over IPv6');
      t.equal((await sdkJs(pods.a)).arn, SPARK_ETL_ARN, 'over IPv4');
      t.equal(await restarted.stop(), 0);
      t.same(requestsToNodeImds6().slice(leaks6BeforeInstall), [], 'no request reached [fd00:ec2::254] since install: before, during and after the restart');
    });

    await t.test('the node\'s metadata service saw the agent, and never a pod, while the rules were in place', async (t) => {
      t.same(podRequestsToNodeImds().slice(leaksBeforeInstall), [], 'no request from a pod address');
      const fromAgent = nodeImds.lines.filter((l) => l.startsWith('{"method"') && !/10\.77\.0\./.test(l));
      t.ok(fromAgent.some((l) => l.includes('/latest/meta-data/iam/security-credentials/node-role')), 'the agent took its own identity from the node role');
      t.ok(fromAgent.some((l) => l.includes('/latest/meta-data/placement/region')), 'and proxied the allowlisted path');
    });

    await t.test('install with another interface pattern replaces corridor\'s rule; check tells the difference', async (t) => {
      const changed = await corridor('iptables', 'install', '--host-ip', NODE_IP, '--interface', '!eth9');
      t.equal(changed.code, 0, changed.stderr);
      t.match(changed.stdout, /rewrote nat chain CORRIDOR-IMDS with 1 DNAT rule/);
      const table = await natTable();
      t.match(table, /-A CORRIDOR-IMDS -d 169\.254\.169\.254\/32 ! -i eth9 -p tcp -m tcp --dport 80 -j DNAT/);
      t.notMatch(table, /-i cveth\+/, 'the old rule is gone');
      t.equal(table.split('\n').filter((l) => l.includes('-j CORRIDOR-IMDS')).length, 1, 'still one jump');
      const stale = await corridor('iptables', 'check', '--host-ip', NODE_IP, '--interface', INTERFACE);
      t.equal(stale.code, 1);
      t.match(stale.stderr, /lacks the rule -i cveth\+ -> 10\.77\.255\.1:8181; .*holds 1 rule\(s\) install would not write/);
      // Without --host-ipv6 the IPv6 DNAT went, the REJECT (now for ! -i eth9) stayed.
      t.match(changed.stdout, /rewrote ip6tables filter chain CORRIDOR-IMDS with 1 REJECT rule.*deleted the ip6tables PREROUTING jump to CORRIDOR-IMDS; deleted ip6tables nat chain CORRIDOR-IMDS/);
      t.match(await ip6Tables(), /-A CORRIDOR-IMDS -d fd00:ec2::254\/128 ! -i eth9 -p tcp -m tcp --dport 80 -j REJECT/);
      t.match(await probe6(pods.a, '/latest/user-data'), { error: 'ECONNREFUSED' }, 'still closed over IPv6');
      t.same(requestsToNodeImds6().slice(leaks6BeforeInstall), []);
    });

    await t.test('remove deletes corridor\'s jump and chain; check then fails; the node path is open again', async (t) => {
      const removed = await script('remove.sh');
      t.equal(removed.code, 0, removed.stderr);
      t.match(removed.stdout, /deleted the PREROUTING jump to CORRIDOR-IMDS; deleted nat chain CORRIDOR-IMDS; deleted the INPUT jump to CORRIDOR-PORT; deleted filter chain CORRIDOR-PORT; deleted the ip6tables FORWARD jump to CORRIDOR-IMDS; deleted ip6tables filter chain CORRIDOR-IMDS/);
      t.notMatch(await natTable(), /CORRIDOR-IMDS/);
      t.notMatch(await ip6Tables(), /CORRIDOR-IMDS/);
      const check = await script('check.sh');
      t.equal(check.code, 1, 'check exits 1');
      t.match(check.stderr, /FAILED: nat chain CORRIDOR-IMDS does not exist/);
      // Why remove is only for taking corridor off a node: nothing stands in the way any more.
      t.match(await probe(pods.a, '/latest/user-data'), { status: 200 });
      t.match(await probe6(pods.a, '/latest/user-data'), { status: 200 }, 'over IPv6 as well');
    });

    t.comment(`node-path e2e took ${Date.now() - started} ms`);
  });
}
