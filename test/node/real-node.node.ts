/**
 * corridor as a cluster admin installs it, on a real node (test/node/cluster.sh): the images
 * built from the Dockerfile, the chart's DaemonSet on kubelet + containerd + the CNI bridge, and
 * SDK calls from real containers to 169.254.169.254. Run by `npm run test:node` (test/node/run.sh),
 * inside the node's namespaces. The steps build on each other, in order:
 * a full node's time to serve -> install -> credentials per corridor -> no refused call across a pod
 * delete and a helm upgrade -> audit, metrics, explain -> two reboots, one per metadata posture ->
 * uninstall and remove leave the node as it was.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startFakeSts } from '../../demo/index.js';
import { eventually } from '../helpers/eventually.js';
import { apply, command, firewallRules, helm, inSlash24, kubectl, nodeCluster, nodeImdsCallers, nodeImdsRequests } from './kube.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'helm/corridor');
const CORRIDOR_CLI = join(ROOT, 'dist/src/cli/corridor.js');
const CLIENTS_DIR = join(ROOT, 'test/node/clients');
const CLUSTER_SH = join(ROOT, 'test/node/cluster.sh');
const ACCOUNT = '123456789012';
const BASE_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/`;
/** The fake node role's key id the node IMDS stand-in serves (test/e2e/fixtures/node-imds.ts). */
const NODE_ACCESS_KEY_ID = 'ASIANODEROLEEXAMPLE1';
const AGENT_NS = 'corridor';

const cluster = nodeCluster();
t.setTimeout(20 * 60_000);

/** A pod running one of test/node/clients/ in `image`, from the ConfigMap every namespace gets. */
function clientPod(
  namespace: string,
  name: string,
  image: string,
  argv: string[],
  annotations: Record<string, string> = {},
  restartPolicy = 'Never',
  options: { serviceAccountName?: string; stsEndpoint?: string } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, annotations },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      ...(options.serviceAccountName !== undefined ? { serviceAccountName: options.serviceAccountName } : {}),
      containers: [
        {
          name: 'client',
          image,
          imagePullPolicy: 'Never',
          command: argv,
          env: [{ name: 'STS_ENDPOINT', value: options.stsEndpoint ?? cluster.stsEndpoint }, { name: 'PYTHONUNBUFFERED', value: '1' }],
          volumeMounts: [{ name: 'clients', mountPath: '/clients', readOnly: true }],
        },
      ],
      volumes: [{ name: 'clients', configMap: { name: 'node-clients' } }],
    },
  };
}

const BOTOCORE = 'localhost/corridor-client-botocore:1';
const JS = 'localhost/corridor-client-js:1';

/** The last JSON line a finished client pod printed. */
async function clientResult(namespace: string, name: string): Promise<{ ok: boolean; arn?: string; accessKeyId?: string; error?: string }> {
  await eventually(`${namespace}/${name} finished`, 180_000, async () => {
    const phase = (await kubectl(cluster, ['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).stdout;
    return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
  }, 500);
  const logs = (await kubectl(cluster, ['-n', namespace, 'logs', name])).stdout.trim().split('\n');
  const result = JSON.parse(logs[logs.length - 1] ?? '{}') as { ok: boolean; arn?: string; accessKeyId?: string; error?: string };
  if (!result.ok) t.comment(await whyNoCredentials(namespace, name));
  return result;
}

/** For a client that got nothing: when its container started, and what the agents logged about its IP. */
async function whyNoCredentials(namespace: string, name: string): Promise<string> {
  const pod = JSON.parse((await kubectl(cluster, ['-n', namespace, 'get', 'pod', name, '-o', 'json'])).stdout) as {
    status: { podIP?: string; containerStatuses?: { state: { terminated?: { startedAt: string } } }[] };
  };
  const ip = pod.status.podIP ?? '(none)';
  const started = pod.status.containerStatuses?.[0]?.state.terminated?.startedAt ?? '(unknown)';
  const agents = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', '-l', 'app.kubernetes.io/name=corridor', '-c', 'corridor', '--tail=-1'], undefined, true)).stdout;
  const about = agents.split('\n').filter((line) => line.includes(`"${ip}"`) || line.includes(`"${name}"`));
  return `${namespace}/${name} (IP ${ip}, container started ${started}) got no credentials; the agent's lines about it:\n${about.join('\n') || '(none)'}`;
}

async function agentPods(): Promise<{ name: string; ready: boolean; uid: string; deleting: boolean }[]> {
  const list = JSON.parse((await kubectl(cluster, ['-n', AGENT_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=corridor', '-o', 'json'])).stdout) as {
    items: { metadata: { name: string; uid: string; deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[];
  };
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    ready: pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** Waits for one Ready agent pod that is not `previousUid`, and returns it. */
async function readyAgent(previousUid?: string) {
  return eventually('a Ready agent pod', 180_000, async () => {
    const pods = await agentPods();
    const ready = pods.filter((pod) => pod.ready && !pod.deleting && pod.uid !== previousUid);
    return pods.length === 1 && ready.length === 1 ? ready[0] : undefined;
  }, 500);
}

const STARTUP_TAINT = 'corridor.io/agent-not-ready';

const values = {
  image: { repository: 'localhost/corridor', tag: 'test', pullPolicy: 'Never' },
  iptables: { interfaces: ['cni0'] },
  agent: { stsEndpoint: cluster.stsEndpoint, stsRegion: 'us-east-1', baseRoleArn: BASE_ROLE_ARN },
};
const valuesArgs = ['--set-json', `image=${JSON.stringify(values.image)}`, '--set-json', `iptables.interfaces=${JSON.stringify(values.iptables.interfaces)}`,
  '--set', `agent.stsEndpoint=${values.agent.stsEndpoint}`, '--set', `agent.stsRegion=${values.agent.stsRegion}`, '--set', `agent.baseRoleArn=${values.agent.baseRoleArn}`];

let rulesBefore = '';

t.before(async () => {
  rulesBefore = await firewallRules();
  const namespaces = [
    { name: 'gha', annotations: { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' } },
    { name: 'gha1', annotations: { 'iam.amazonaws.com/role': 'gha1-ingest', 'iam.amazonaws.com/allowed-roles': '["gha1-*"]' } },
    { name: 'plain', annotations: {} },
    { name: FILL_NS, annotations: {} },
  ];
  const clients = Object.fromEntries(readdirSync(CLIENTS_DIR).map((file) => [file, readFileSync(join(CLIENTS_DIR, file), 'utf8')]));
  await apply(
    cluster,
    ...namespaces.map(({ name, annotations }) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations } })),
    ...namespaces.map(({ name }) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: name, name: 'node-clients' }, data: clients })),
  );
  // kube-controller-manager makes each namespace's default ServiceAccount; pods wait for it.
  for (const { name } of namespaces) {
    await eventually(`ServiceAccount ${name}/default`, 60_000, async () => ((await kubectl(cluster, ['-n', name, 'get', 'sa', 'default'], undefined, true)).code === 0, 500));
  }
  await fillTheNode();
});

/**
 * The node as time to serve is measured on: 2,000 more namespaces, each a corridor, and
 * FILL_PODS pods already running on it (they tolerate the start-up taint, as pods bound to a node
 * before its agent are). The pods go once it is measured, to make room for the rest.
 */
const FILL_NS = 'fill';
const FILL_PODS = 100;
async function fillTheNode(): Promise<void> {
  const many = Array.from({ length: 2000 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: `team-${String(i).padStart(4, '0')}`, annotations: { 'iam.amazonaws.com/allowed-roles': `["team-${i}-*"]`, 'iam.amazonaws.com/role': `team-${i}-etl` } },
  }));
  const created = await kubectl(cluster, ['create', '-f', '-', '-o', 'name'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: many }));
  if (created.code !== 0) throw new Error(`2,000 namespaces: ${created.stderr}`);
  const pods = Array.from({ length: FILL_PODS }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: FILL_NS, name: `fill-${i}` },
    spec: {
      nodeName: cluster.nodeName,
      terminationGracePeriodSeconds: 0,
      tolerations: [{ key: STARTUP_TAINT, operator: 'Exists' }],
      containers: [{ name: 'sleep', image: 'localhost/corridor-pause:1', imagePullPolicy: 'Never' }],
    },
  }));
  await kubectl(cluster, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
  await eventually(`${FILL_PODS} pods running on the node`, 600_000, async () => {
    const phases = (await kubectl(cluster, ['-n', FILL_NS, 'get', 'pods', '-o', 'jsonpath={.items[*].status.phase}'])).stdout.split(' ');
    return phases.filter((phase) => phase === 'Running').length === FILL_PODS;
  }, 2000);
}

async function nodeTaints(): Promise<string[]> {
  const node = JSON.parse((await kubectl(cluster, ['get', 'node', cluster.nodeName, '-o', 'json'])).stdout) as { spec: { taints?: { key: string }[] } };
  return (node.spec.taints ?? []).map((taint) => taint.key);
}

/** The pod of a Job (one attempt, backoffLimit 0). */
async function jobPod(namespace: string, job: string): Promise<{ name: string; phase: string; unschedulable: string | undefined }> {
  const list = JSON.parse((await kubectl(cluster, ['-n', namespace, 'get', 'pods', '-l', `job-name=${job}`, '-o', 'json'])).stdout) as {
    items: { metadata: { name: string }; status: { phase: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[];
  };
  const pod = list.items[0];
  if (pod === undefined) return { name: '', phase: 'none', unschedulable: undefined };
  const scheduled = pod.status.conditions?.find((c) => c.type === 'PodScheduled');
  return { name: pod.metadata.name, phase: pod.status.phase, unschedulable: scheduled?.status === 'False' ? scheduled.message : undefined };
}

t.test('a Job created on the new node before corridor waits (start-up taint), then its first SDK call gets its own role', async (t) => {
  t.same((await nodeTaints()).filter((key) => key === STARTUP_TAINT), [STARTUP_TAINT], 'the node registered with the start-up taint');
  const job = clientPod('gha', 'first-call', BOTOCORE, ['python3', '/clients/sdk_botocore.py']);
  await apply(cluster, { apiVersion: 'batch/v1', kind: 'Job', metadata: { namespace: 'gha', name: 'first-call' }, spec: { backoffLimit: 0, template: { spec: job.spec } } });
  const waiting = await eventually('the Job\'s pod to be found unschedulable', 60_000, async () => {
    const pod = await jobPod('gha', 'first-call');
    return pod.unschedulable !== undefined ? pod : undefined;
  }, 500);
  t.match(waiting.unschedulable, /untolerated taint/, `the Job's pod is Pending, held back by the taint (${waiting.unschedulable})`);
});

t.test('helm install rolls the DaemonSet out: the init container installs the rules, the agent becomes Ready through its probes', async (t) => {
  await helm(cluster, ['install', 'corridor', CHART, '-n', AGENT_NS, '--create-namespace', ...valuesArgs]);
  const agent = await readyAgent();
  const pod = JSON.parse((await kubectl(cluster, ['-n', AGENT_NS, 'get', 'pod', agent.name, '-o', 'json'])).stdout) as {
    spec: { containers: { readinessProbe?: unknown; livenessProbe?: unknown }[] };
    status: { initContainerStatuses: { name: string; state: { terminated?: { exitCode: number } } }[]; hostIP: string };
  };
  t.ok(pod.spec.containers[0]?.readinessProbe, 'the agent has a readiness probe, which kubelet ran');
  const iptablesInit = pod.status.initContainerStatuses.find((c) => c.name === 'iptables');
  t.equal(iptablesInit?.state.terminated?.exitCode, 0, 'the iptables init container exited 0');
  t.equal(pod.status.hostIP, cluster.nodeIp, 'the agent runs on the node IP (hostNetwork)');
  const nat = (await command('iptables-save', ['-t', 'nat'])).stdout;
  t.match(nat, new RegExp(`-A CORRIDOR-IMDS -d 169\\.254\\.169\\.254/32 -i cni0 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${cluster.nodeIp.replace(/\./g, '\\.')}:8181`), 'pods\' metadata traffic is sent to the agent');
  const rollout = await kubectl(cluster, ['-n', AGENT_NS, 'rollout', 'status', 'ds/corridor', '--timeout=60s']);
  t.match(rollout.stdout, /successfully rolled out/, 'kubectl rollout status: rolled out');
  const ready = await fetch(`http://${cluster.nodeIp}:9181/readyz`);
  t.equal(ready.status, 200, '/readyz answers 200 on the node IP');

  // The agent removed the start-up taint once it served: the time from its process's start (its
  // uptime when it opened the metadata port, then the removal), on a node with 2,000 namespaces
  // and FILL_PODS pods running.
  const lines = await eventually('the start-up taint removed', 60_000, async () => {
    const logs = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', agent.name, '-c', 'corridor'])).stdout.split('\n');
    const parsed = logs.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; time: string; afterMs?: number; uptimeMs?: number });
    const removed = parsed.find((line) => line.msg.startsWith('start-up taint removed'));
    const listening = parsed.find((line) => line.msg === 'corridor agent listening');
    return removed && listening ? { removed, listening } : undefined;
  }, 500);
  t.same((await nodeTaints()).filter((key) => key === STARTUP_TAINT), [], 'the agent took its start-up taint off the node');
  const uptime = lines.listening.uptimeMs ?? NaN;
  const toServe = uptime + (Date.parse(lines.removed.time) - Date.parse(lines.listening.time));
  const watched = (await kubectl(cluster, ['get', 'namespaces', '-o', 'name'])).stdout.split('\n').length;
  t.comment(`time to serve, ${watched} namespaces and ${FILL_PODS} pods on the node: the metadata port open ${uptime} ms after the agent process started, ` +
    `the start-up taint removed at ${toServe} ms (its removal took ${lines.removed.afterMs} ms)`);
  // The target (2 s) is a figure the suite prints, as benchmarks do; the bound here only catches a
  // start-up gone wrong on a machine whose other work slows everything.
  t.ok(toServe < 10_000, 'within 10 s of the agent process\'s start');
  await kubectl(cluster, ['-n', FILL_NS, 'delete', 'pods', '--all', '--wait=false']);

  // The Job created before corridor ran now runs, and its first call (botocore: 1 s, one attempt) gets the corridor's role.
  const first = await eventually('the Job\'s pod to finish', 180_000, async () => {
    const pod = await jobPod('gha', 'first-call');
    return pod.phase === 'Succeeded' || pod.phase === 'Failed' ? pod : undefined;
  }, 500);
  const result = await clientResult('gha', first.name);
  t.ok(result.ok, `the Job's first SDK call got credentials (${result.error ?? result.arn})`);
  t.match(result.arn, new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/spark-etl/`), 'its own role, spark-etl');
  t.not(result.accessKeyId, NODE_ACCESS_KEY_ID, 'never the node\'s own credentials');
  // The next steps start pods whose first call must beat nothing but their own kubelet status
  // report: with 100 pods being torn down, the kubelet's API calls queue behind their deletions
  // (one CI run: botocore in a pod started then got no credentials; whyNoCredentials prints why).
  await eventually(`the ${FILL_PODS} fill pods gone`, 300_000, async () => {
    const left = (await kubectl(cluster, ['-n', FILL_NS, 'get', 'pods', '-o', 'name'])).stdout.trim();
    return left === '' ? true : undefined;
  }, 1000);
});

t.test('a pod gets its namespace\'s role from moto through the SDKs; another corridor and a pod without a role get nothing', async (t) => {
  await apply(
    cluster,
    clientPod('gha', 'spark-driver', BOTOCORE, ['python3', '/clients/sdk_botocore.py']),
    clientPod('gha', 'spark-js', JS, ['node', '/clients/sdk_js.cjs']),
    clientPod('plain', 'no-role', BOTOCORE, ['python3', '/clients/sdk_botocore.py']),
  );
  const driver = await clientResult('gha', 'spark-driver');
  t.ok(driver.ok, `botocore in gha got credentials and called STS (${driver.error ?? driver.arn})`);
  t.match(driver.arn, new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/spark-etl/`), 'botocore: the assumed-role ARN of spark-etl, from moto');
  const js = await clientResult('gha', 'spark-js');
  t.ok(js.ok, `the JS SDK v3 in gha got credentials and called STS (${js.error ?? js.arn})`);
  t.match(js.arn, new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/spark-etl/`), 'JS SDK: the assumed-role ARN of spark-etl');
  const noRole = await clientResult('plain', 'no-role');
  t.notOk(noRole.ok, `a pod of a namespace without a corridor gets nothing (${noRole.error})`);

  // Another corridor asking for gha's role: the chart's admission policy refuses the pod...
  const refused = await kubectl(cluster, ['apply', '-f', '-'], JSON.stringify(clientPod('gha1', 'intruder', BOTOCORE, ['sleep', 'infinity'], { 'iam.amazonaws.com/role': 'spark-etl' })), true);
  t.not(refused.code, 0, 'creating a gha1 pod that asks for spark-etl is refused');
  t.match(refused.stderr, /ValidatingAdmissionPolicy 'corridor'.*corridor: pod intruder: role arn:aws:iam::123456789012:role\/spark-etl is not allowed in namespace gha1/, 'by the chart\'s admission policy, with corridor\'s reason');
  // ...and a pod admitted before its corridor admin narrowed the namespace is denied by the agent.
  await kubectl(cluster, ['annotate', '--overwrite', 'namespace', 'gha1', 'iam.amazonaws.com/allowed-roles=["gha1-*","spark-etl"]']);
  await apply(cluster, clientPod('gha1', 'intruder', BOTOCORE, ['sleep', 'infinity'], { 'iam.amazonaws.com/role': 'spark-etl' }, 'Always'));
  await kubectl(cluster, ['annotate', '--overwrite', 'namespace', 'gha1', 'iam.amazonaws.com/allowed-roles=["gha1-*"]']);
  await kubectl(cluster, ['-n', 'gha1', 'wait', '--for=condition=Ready', 'pod/intruder', '--timeout=120s']);
  const intruder = await eventually('the agent sees gha1 narrowed', 30_000, async () => {
    const exec = await kubectl(cluster, ['-n', 'gha1', 'exec', 'intruder', '--', 'python3', '/clients/sdk_botocore.py']);
    const result = JSON.parse(exec.stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean; error?: string; accessKeyId?: string };
    return result.ok ? undefined : result;
  }, 1000);
  t.notOk(intruder.ok, `a gha1 pod asking for spark-etl gets nothing from the agent (${intruder.error})`);
  for (const result of [driver, js, intruder, noRole]) t.not(result.accessKeyId, NODE_ACCESS_KEY_ID, 'never the node\'s own credentials');
  t.same(nodeImdsCallers(cluster).filter((from) => inSlash24(from, cluster.podCidr)), [], 'no pod reached the node\'s metadata service');
});

interface Poll {
  t: number;
  outcome: string;
  accessKeyId?: string;
  nodeSecret: boolean;
  /** The token's answer timed out (the hop limit): the poller went on without one, as botocore does. */
  imdsv1?: boolean;
}

async function polls(): Promise<Poll[]> {
  const logs = (await kubectl(cluster, ['-n', 'gha', 'logs', 'poller'])).stdout;
  return logs.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Poll);
}

/** Waits until the poller has had credentials `count` times after `since` (seconds since epoch). */
async function credentialsAgain(since: number, count = 3): Promise<void> {
  await eventually('credentials again', 120_000, async () => {
    const served = (await polls()).filter((p) => p.t > since && p.outcome === 'credentials');
    return served.length >= count;
  }, 1000);
}

t.test('no refused call: a pod polling every 100-200 ms across an agent pod delete and a helm upgrade always gets its credentials, never the node\'s', async (t) => {
  await apply(cluster, clientPod('gha', 'poller', BOTOCORE, ['python3', '/clients/poll_imds.py'], {}, 'Always'));
  await credentialsAgain(0);
  const first = await readyAgent();

  // 1. The agent pod is deleted: with maxSurge the DaemonSet starts its replacement at once, and
  //    the old agent serves until the new one listens beside it.
  const deletedAt = Date.now() / 1000;
  await kubectl(cluster, ['-n', AGENT_NS, 'delete', 'pod', first.name, '--wait=false']);
  const second = await readyAgent(first.uid);
  await credentialsAgain(Date.now() / 1000);

  // 2. helm upgrade with a changed value: the new agent starts beside the old one, which hands over once it is Ready.
  const upgradedAt = Date.now() / 1000;
  await helm(cluster, ['upgrade', 'corridor', CHART, '-n', AGENT_NS, ...valuesArgs, '--set', 'agent.podLookupTimeout=2s']);
  const third = await readyAgent(second.uid);
  await credentialsAgain(Date.now() / 1000);
  const env = (await kubectl(cluster, ['-n', AGENT_NS, 'get', 'pod', third.name, '-o', 'jsonpath={.spec.containers[0].env}'])).stdout;
  t.match(env, /"CORRIDOR_POD_LOOKUP_TIMEOUT","value":"2s"/, 'the upgraded agent runs with the changed value');

  const all = await polls();
  const during = (from: number, to: number) => all.filter((p) => p.t >= from && p.t <= to);
  const doneAt = Date.now() / 1000;
  t.ok(all.length > 50, `the poller made ${all.length} attempts`);
  t.same(all.filter((p) => p.nodeSecret || p.accessKeyId === NODE_ACCESS_KEY_ID), [], 'no answer ever carried the node\'s credentials or user-data');
  t.same(nodeImdsCallers(cluster).filter((from) => inSlash24(from, cluster.podCidr)), [], 'the node\'s metadata service never heard from a pod');
  const failed = all.filter((p) => p.outcome !== 'credentials');
  t.comment(`the pod delete: ${during(deletedAt, upgradedAt).length} attempts over ${(upgradedAt - deletedAt).toFixed(1)} s; ` +
    `the upgrade: ${during(upgradedAt, doneAt).length} attempts over ${(doneAt - upgradedAt).toFixed(1)} s; failed: ${failed.length} (${failed.map((p) => p.outcome).join(', ') || 'none'})`);
  t.same(failed, [], 'every attempt got the pod\'s credentials: none refused, reset or timed out, through both');
  const logs = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', third.name])).stdout;
  t.match(logs, /corridor agent listening/, 'the upgraded agent serves');
});

t.test('audit lines in kubectl logs, /metrics through the chart\'s Service, corridor explain against the cluster', async (t) => {
  const logs = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', 'ds/corridor'])).stdout.split('\n').filter((line) => line.startsWith('{'));
  const served = logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'credentials served' && entry.pod === 'poller');
  t.ok(served, 'a "credentials served" audit line for the poller');
  t.match(served, { namespace: 'gha', node: cluster.nodeName, role: `${BASE_ROLE_ARN}spark-etl` }, 'it names the namespace, node and role');
  t.notMatch(JSON.stringify(logs), /SecretAccessKey"\s*:\s*"[^*[]/, 'no secret key in the logs');

  // Prometheus discovers the agents through the Service's endpoints (it is headless: one per node).
  const slices = JSON.parse((await kubectl(cluster, ['-n', AGENT_NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=corridor', '-o', 'json'])).stdout) as {
    items: { endpoints: { addresses: string[] }[]; ports: { name: string; port: number }[] }[];
  };
  const slice = slices.items[0];
  const address = slice?.endpoints[0]?.addresses[0];
  const port = slice?.ports.find((p) => p.name === 'metrics')?.port;
  t.equal(address, cluster.nodeIp, 'the Service\'s endpoint is the agent on the node IP');
  const metrics = await (await fetch(`http://${address}:${port}/metrics`)).text();
  t.match(metrics, /corridor_build_info\{/, '/metrics answers with corridor_build_info');
  t.match(metrics, /corridor_requests_total\{/, 'and request counters');
  t.match(metrics, /corridor_sts_calls_total\{/, 'and STS call counters');
  t.match(metrics, /^corridor_pod_network_shared_bridges 1$/m, 'the agent sees that this node\'s pods share a bridge (the bridge CNI\'s cni0)');

  // A pod on the node reaches the admin port too (it is on the node IP): it may ask about itself
  // only, never about its neighbours.
  const ask = async (ip: string) => {
    const probe = `import urllib.request, urllib.error\ntry:\n  print(urllib.request.urlopen("http://${cluster.nodeIp}:${port}/debug/explain?ip=${ip}", timeout=5).status)\nexcept urllib.error.HTTPError as e:\n  print(e.code)`;
    return (await kubectl(cluster, ['-n', 'gha', 'exec', 'poller', '--', 'python3', '-c', probe])).stdout.trim();
  };
  const podIp = async (namespace: string, name: string) => (await kubectl(cluster, ['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.podIP}'])).stdout;
  t.equal(await ask(await podIp('gha1', 'intruder')), '403', 'a pod asking /debug/explain about another pod: 403');
  t.equal(await ask(await podIp('gha', 'poller')), '200', 'about itself: 200');

  const explain = async (namespace: string, pod: string) => {
    const result = await command(process.execPath, [CORRIDOR_CLI, 'explain', '--kubeconfig', cluster.kubeconfig, '--namespace', namespace, '--pod', pod, '--base-role-arn', BASE_ROLE_ARN]);
    return { code: result.code, report: JSON.parse(result.stdout || '{}') as Record<string, unknown>, stderr: result.stderr };
  };
  const allowed = await explain('gha', 'poller');
  t.equal(allowed.code, 0, `explain gha/poller: allowed (${allowed.stderr})`);
  t.match(JSON.stringify(allowed.report), /role\/spark-etl/, 'with spark-etl');
  const denied = await explain('gha1', 'intruder');
  t.equal(denied.code, 1, 'explain gha1/intruder: denied, exit 1');
  t.match(JSON.stringify(denied.report), /not-allowed/, 'reason not-allowed');

  // What only the node knows reaches `corridor audit` through the API server's pod proxy.
  const audit = await command(process.execPath, [CORRIDOR_CLI, 'audit', '--kubeconfig', cluster.kubeconfig, '--base-role-arn', BASE_ROLE_ARN, '--output', 'json']);
  const report = JSON.parse(audit.stdout || '{}') as { findings?: { kind: string; node?: string }[]; notes?: string[] };
  t.equal(audit.code, 1, `corridor audit exits 1 with findings (${audit.stderr.trim()})`);
  t.ok(report.findings?.some((f) => f.kind === 'shared-pod-bridge' && f.node === cluster.nodeName), `a shared-pod-bridge finding for the node, from its agent's /metrics (${JSON.stringify(report.findings)})`);
  t.same(report.notes, [], 'the agent\'s metrics were read');

  // The agent's metadata port takes only what came through the DNAT: a pod dialling it directly is reset.
  const direct = `import urllib.request\ntry:\n  print(urllib.request.urlopen("http://${cluster.nodeIp}:8181/latest/meta-data/iam/security-credentials/", timeout=5).status)\nexcept Exception as e:\n  print(type(e).__name__, getattr(e, "reason", ""))`;
  const dialled = (await kubectl(cluster, ['-n', 'gha', 'exec', 'poller', '--', 'python3', '-c', direct])).stdout.trim();
  t.match(dialled, /^URLError .*(Connection refused|Connection reset)/, `a pod dialling ${cluster.nodeIp}:8181 directly is refused (${dialled})`);
});

/**
 * The node reboots (test/node/cluster.sh reboot) with its metadata service in `posture`: every pod
 * comes back in the kubelet's order, the poller polling from its first instant. Returns what the
 * poller saw from its new start, when the agent served again, and what the node's metadata service
 * heard from pods meanwhile.
 */
async function rebootWith(posture: 'v1-allowed' | 'v2-required') {
  const imds = await command('bash', [CLUSTER_SH, 'imds', posture, '1']);
  if (imds.code !== 0) throw new Error(`cluster.sh imds ${posture}: ${imds.stderr}`);
  const heardBefore = nodeImdsRequests(cluster).length;
  const before = await readyAgent();
  const rebootAt = Date.now() / 1000;
  const reboot = await command('bash', [CLUSTER_SH, 'reboot'], { timeoutMs: 300_000 });
  if (reboot.code !== 0) throw new Error(`cluster.sh reboot: ${reboot.stderr}`);
  // The same pods come back (the API server kept them): the agent's container restarts in its pod.
  await eventually('the agent to serve after the reboot', 180_000, async () => {
    const logs = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', before.name, '-c', 'corridor'], undefined, true)).stdout;
    return logs.split('\n').some((line) => line.includes('"corridor agent listening"') && Date.parse((JSON.parse(line) as { time: string }).time) / 1000 > rebootAt);
  }, 500);
  await credentialsAgain(rebootAt);
  const logs = (await kubectl(cluster, ['-n', AGENT_NS, 'logs', before.name, '-c', 'corridor'])).stdout.split('\n');
  const listening = logs.filter((line) => line.includes('"corridor agent listening"')).map((line) => Date.parse((JSON.parse(line) as { time: string }).time) / 1000).find((time) => time > rebootAt) ?? NaN;
  const attempts = (await polls()).filter((p) => p.t > rebootAt);
  const firstCredentials = attempts.find((p) => p.outcome === 'credentials' && p.accessKeyId !== NODE_ACCESS_KEY_ID)?.t ?? NaN;
  const heard = nodeImdsRequests(cluster).slice(heardBefore).filter((request) => inSlash24(request.from, cluster.podCidr));
  return { rebootAt, listening, attempts, firstCredentials, heard };
}

function describeReboot(posture: string, seen: Awaited<ReturnType<typeof rebootWith>>): string {
  const node = seen.attempts.filter((p) => p.accessKeyId === NODE_ACCESS_KEY_ID || p.nodeSecret);
  const failed = seen.attempts.filter((p) => p.t < seen.firstCredentials && p.outcome !== 'credentials');
  const outcomes = [...new Set(failed.map((p) => `${p.outcome}${p.imdsv1 ? ' (IMDSv1)' : ''}`))].join(', ');
  const heard = seen.heard.map((r) => `${r.method} ${r.path}`);
  return `${posture}: the poller's first attempt ${((seen.attempts[0]?.t ?? NaN) - seen.rebootAt).toFixed(1)} s after the reboot began, the agent served at +${(seen.listening - seen.rebootAt).toFixed(1)} s, ` +
    `the poller had its own role at +${(seen.firstCredentials - seen.rebootAt).toFixed(1)} s (${(seen.firstCredentials - seen.listening).toFixed(2)} s after); ` +
    `before that ${failed.length} attempts failed (${outcomes || 'none'}) and ${node.length} got the node's credentials; ` +
    `the node's metadata service heard ${heard.length} requests from pods (${[...new Set(heard)].join(', ') || 'none'})`;
}

t.test('a reboot: no pod reaches the node\'s credentials with IMDSv2 required and a hop limit of 1, and none waits longer than the agent takes to serve', async (t) => {
  const open = await rebootWith('v1-allowed');
  t.comment(describeReboot('IMDSv1 allowed, hop limit 1', open));
  t.ok(open.firstCredentials - open.listening < 2, 'the poller had its own role within 2 s of the agent serving');

  const closed = await rebootWith('v2-required');
  t.comment(describeReboot('IMDSv2 required, hop limit 1', closed));
  t.same(closed.attempts.filter((p) => p.accessKeyId === NODE_ACCESS_KEY_ID || p.nodeSecret), [], 'no attempt got the node\'s credentials or user-data');
  t.same(closed.heard.filter((r) => r.method !== 'PUT' && !r.path.startsWith('/latest/')), [], 'the node\'s metadata service heard only metadata calls');
  t.ok(closed.firstCredentials - closed.listening < 2, 'the poller had its own role within 2 s of the agent serving');
  t.equal(closed.attempts.at(-1)?.outcome, 'credentials', 'and keeps it');
});

t.test('web identity: with no AWS credentials, a pod gets the role that trusts its ServiceAccount through botocore and the JS SDK, for 12 h; another ServiceAccount gets a clear denial', async (t) => {
  // IAM's view of the cluster: its OIDC provider (the API server's issuer and keys) and a role
  // that trusts gha's default ServiceAccount only. The STS stand-in checks what STS checks.
  const discovery = JSON.parse((await kubectl(cluster, ['get', '--raw', '/.well-known/openid-configuration'])).stdout) as { issuer: string };
  const jwks = JSON.parse((await kubectl(cluster, ['get', '--raw', '/openid/v1/jwks'])).stdout) as { keys: object[] };
  const roleArn = `${BASE_ROLE_ARN}spark-etl`;
  const sts = await startFakeSts({
    host: cluster.nodeIp,
    webIdentity: { issuer: discovery.issuer, audiences: ['sts.amazonaws.com'], jwks: () => jwks as never, roles: new Map([[roleArn, { sub: ['system:serviceaccount:gha:default'], aud: 'sts.amazonaws.com' }]]) },
  });
  t.teardown(() => sts.close());
  await apply(cluster, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { namespace: 'gha', name: 'untrusted' } });
  const before = await readyAgent();
  await helm(cluster, ['upgrade', 'corridor', CHART, '-n', AGENT_NS, ...valuesArgs, '--set', `agent.stsEndpoint=${sts.url}`,
    '--set', 'agent.credentialMode=web-identity', '--set', 'agent.tokenRequestAsNode=true', '--set', 'agent.sessionDuration=12h']);
  const agent = await readyAgent(before.uid);
  const env = (await kubectl(cluster, ['-n', AGENT_NS, 'get', 'pod', agent.name, '-o', 'jsonpath={.spec.containers[0].env}'])).stdout;
  t.notMatch(env, /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_WEB_IDENTITY_TOKEN_FILE/, 'the agent has no AWS credentials in its environment');

  const options = { stsEndpoint: sts.url };
  await apply(cluster,
    clientPod('gha', 'wi-botocore', BOTOCORE, ['python3', '/clients/sdk_botocore.py'], {}, 'Never', options),
    clientPod('gha', 'wi-js', JS, ['node', '/clients/sdk_js.cjs'], {}, 'Never', options),
    clientPod('gha', 'wi-untrusted', BOTOCORE, ['python3', '/clients/poll_imds.py'], {}, 'Always', { ...options, serviceAccountName: 'untrusted' }));
  for (const name of ['wi-botocore', 'wi-js']) {
    const result = await clientResult('gha', name);
    t.ok(result.ok, `${name}: credentials (${result.error ?? result.arn})`);
    t.match(result.arn, new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/spark-etl/`), `${name}: the role that trusts gha's default ServiceAccount`);
  }
  const sessions = sts.webIdentityCalls.filter((call) => call.refused === undefined);
  t.ok(sessions.length > 0 && sessions.every((call) => call.claims?.sub === 'system:serviceaccount:gha:default'), 'every session went to a token of that ServiceAccount');
  t.ok(sessions.every((call) => call.durationSeconds === 43_200), 'sessions of 12 h (no role chaining)');
  t.same(sts.webIdentityCalls.filter((call) => call.signed), [], 'no call to STS carried AWS credentials');
  t.same(sts.assumeCalls, [], 'and none was an AssumeRole');

  // The untrusted ServiceAccount: corridor's policy allows the namespace's role, IAM does not.
  const ip = await eventually('the untrusted pod\'s IP', 60_000, async () => (await kubectl(cluster, ['-n', 'gha', 'get', 'pod', 'wi-untrusted', '-o', 'jsonpath={.status.podIP}'])).stdout || undefined, 500);
  // Up to 6 min: a failure other than STS's (seen once, not yet explained: the first token request
  // refused while the API server's node authorizer had not seen the new pod?) is retried slowly,
  // after up to 5 min; the first such answer is printed.
  let other: string | undefined;
  const explained = await eventually('STS\'s refusal in explain', 360_000, async () => {
    const answer = await (await fetch(`http://127.0.0.1:9181/debug/explain?ip=${ip}`)).json() as { credentials?: { lastError?: { code?: string } }; trustSubject?: string };
    if (answer.credentials?.lastError?.code !== 'AccessDenied') {
      if (answer.credentials?.lastError) other ??= JSON.stringify(answer.credentials.lastError);
      throw new Error(`explain: ${JSON.stringify(answer)}`);
    }
    return answer;
  }, 1000);
  if (other !== undefined) t.comment(`before STS's refusal, explain showed: ${other}`);
  t.equal(explained.trustSubject, 'system:serviceaccount:gha:untrusted', 'explain names the ServiceAccount the role would have to trust');
  const untrusted = (await kubectl(cluster, ['-n', 'gha', 'logs', 'wi-untrusted'])).stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Poll);
  t.ok(untrusted.length > 0 && untrusted.every((p) => p.outcome !== 'credentials'), `the pod got no credentials (${[...new Set(untrusted.map((p) => p.outcome))].join(', ')})`);
  t.ok(sts.webIdentityCalls.some((call) => call.refused === 'AccessDenied' && call.claims === undefined), 'STS refused its token for the role');
  await kubectl(cluster, ['-n', 'gha', 'delete', 'pod', 'wi-untrusted', '--wait=false']);
});

t.test('helm uninstall and corridor iptables remove leave the node as it was', async (t) => {
  await kubectl(cluster, ['-n', 'gha', 'delete', 'pod', 'poller', '--wait=true', '--timeout=60s']);
  await helm(cluster, ['uninstall', 'corridor', '-n', AGENT_NS, '--wait', '--timeout', '120s']);
  await eventually('the agent pods gone', 120_000, async () => (await agentPods()).length === 0, 500);
  t.match((await command('iptables-save', ['-t', 'nat'])).stdout, /CORRIDOR-IMDS/, 'after uninstall the rules stay: pods still fail closed');
  const removed = await command(process.execPath, [CORRIDOR_CLI, 'iptables', 'remove']);
  t.equal(removed.code, 0, `corridor iptables remove exits 0 (${removed.stderr.trim()})`);
  await kubectl(cluster, ['delete', 'namespace', 'gha', 'gha1', 'plain', AGENT_NS, '--wait=true', '--timeout=120s']);
  // The node rebooted in between: kubelet and kube-proxy put their own rules back in their own
  // order, so the rules are compared as sets of lines.
  const sorted = (rules: string) => rules.split('\n').sort().join('\n');
  const after = await eventually('the rules as before', 60_000, async () => {
    const rules = sorted(await firewallRules());
    return rules === sorted(rulesBefore) ? rules : undefined;
  }, 2000).catch(async () => sorted(await firewallRules()));
  t.equal(after, sorted(rulesBefore), 'iptables and ip6tables have exactly the rules they had before the install');
});
