import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { IContainer, IEnvVar, IPodSpec } from 'kubernetes-models/v1';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IFlowSchema, IPriorityLevelConfiguration } from 'kubernetes-models/flowcontrol.apiserver.k8s.io/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import { parse } from 'yaml';
import { AGENT_FLAGS, parseAgentConfig } from '../../src/config/index.js';
import { envName } from '../../src/config/flags.js';
import { CHART, NAMESPACE, ROOT, findHelm, helm, only, renderChart, schemaProblem, setArgs, type K8sObject } from '../helpers/helm.js';

/** Flags the DaemonSet fills from the downward API rather than from values; host-ipv6 takes status.hostIPs whole (ipv6.fromHostIPs). */
const FROM_DOWNWARD_API: Readonly<Record<string, string>> = { 'node-name': 'spec.nodeName', 'host-ip': 'status.hostIP', 'host-ipv6': 'status.hostIPs' };

/** Every optional object and mode on. */
const ALL_ON = {
  'agent.serviceAccountRoles': true,
  'metrics.podMonitor.enabled': true,
  'metrics.prometheusRule.enabled': true,
  'dashboard.enabled': true,
  'examples.namespace.enabled': true,
};

/** A value other than the default for every flag that values set; values the agent accepts. */
const SAMPLES: Readonly<Record<string, string | number | boolean>> = {
  port: 18181,
  'handover-timeout': '20s',
  'admin-host': '127.0.0.2',
  'admin-port': 19181,
  kubeconfig: '/etc/corridor/kubeconfig',
  'base-role-arn': 'arn:aws:iam::123456789012:role/teams/',
  'sts-region': 'eu-west-1',
  'sts-endpoint': 'https://sts.eu-west-1.amazonaws.com',
  // node-role: the samples set every flag at once, and --session-tags is refused in web-identity mode.
  'credential-mode': 'node-role',
  'token-audience': 'sts.example.com',
  'token-expiration': '15m',
  'token-request-as-node': true,
  'session-duration': '50m',
  'refresh-before': '30m',
  'min-remaining': '20m',
  'allow-unsafe-min-remaining': true,
  'pod-lookup-timeout': '2s',
  'kube-start-jitter': '500ms',
  'kube-api-content-type': 'application/json',
  'imds-upstream': 'http://127.0.0.1:1338',
  'passthrough-paths': '{/latest/meta-data/placement/region,/latest/meta-data/instance-id}',
  'rate-limit': 20,
  'rate-limit-burst': 40,
  'require-imdsv2': true,
  'startup-taint': 'example.com/corridor-not-ready',
  'token-key-dir': '/var/lib/corridor-keys',
  'service-account-roles': true,
  'session-tags': true,
  'session-scope': 'pod',
  'role-annotation': 'example.com/role',
  'allowed-roles-annotation': 'example.com/allowed-roles',
  'external-id-annotation': 'example.com/external-id',
  'session-policy-annotation': 'example.com/session-policy',
  'session-policy-arns-annotation': 'example.com/session-policy-arns',
  'service-account-role-annotation': 'example.com/role-arn',
  'log-level': 'debug',
};

const camel = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function daemonSet(objects: readonly K8sObject[]): IDaemonSet {
  return only(objects, 'DaemonSet') as unknown as IDaemonSet;
}
function podSpec(objects: readonly K8sObject[]): IPodSpec {
  const spec = daemonSet(objects).spec?.template.spec;
  if (spec === undefined) throw new Error('DaemonSet without a pod spec');
  return spec;
}
function container(objects: readonly K8sObject[], name: string, init = false): IContainer {
  const spec = podSpec(objects);
  const found = (init ? spec.initContainers : spec.containers)?.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no ${init ? 'init ' : ''}container ${name}`);
  return found;
}
function envOf(c: IContainer): Map<string, IEnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}
/** The agent's environment as the kubelet would give it, downward-API fields filled in. */
function resolvedEnv(c: IContainer): NodeJS.ProcessEnv {
  const fields: Record<string, string> = { 'spec.nodeName': 'node-a', 'status.hostIP': '10.0.0.1' };
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''];
  return env;
}
/** (apiGroup, resource, verb) triples a ClusterRole grants. */
function grants(role: IClusterRole): string[] {
  return (role.rules ?? [])
    .flatMap((rule) => (rule.apiGroups ?? []).flatMap((g) => (rule.resources ?? []).flatMap((r) => rule.verbs.map((v) => `${g}/${r}:${v}`))))
    .sort();
}
const triples = (resources: string[]): string[] => resources.flatMap((r) => ['get', 'list', 'watch'].map((v) => `/${r}:${v}`)).sort();

const found = findHelm(t);
if (!found.ok) {
  t.plan(0, `helm chart tests skipped: ${found.reason}`);
} else {
  const bin = found.bin;
  const defaults = renderChart(bin);
  const allOn = renderChart(bin, ALL_ON);

  t.test('helm lint passes, also with --strict, with defaults and with every optional object on', async (t) => {
    for (const args of [[], ['--strict'], ['--strict', ...setArgs(ALL_ON)]]) {
      const result = helm(bin, ['lint', CHART, ...args]);
      t.equal(result.status, 0, `helm lint ${args.join(' ')}: ${result.stdout}${result.stderr}`);
    }
  });

  t.test('the default render is the agent, its RBAC and its flow schema, each object valid against the Kubernetes schemas', async (t) => {
    t.same(defaults.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'FlowSchema', 'PriorityLevelConfiguration', 'Service', 'ServiceAccount']);
    for (const object of defaults) t.equal(schemaProblem(object), undefined, `${object.kind} ${object.metadata.name} validates`);
  });

  t.test('with every option on, PodMonitor, PrometheusRule, dashboard ConfigMap and example namespace render and validate', async (t) => {
    t.same(allOn.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'FlowSchema', 'Namespace', 'PodMonitor', 'PriorityLevelConfiguration', 'PrometheusRule', 'Service', 'ServiceAccount']);
    for (const object of allOn) t.equal(schemaProblem(object), undefined, `${object.kind} ${object.metadata.name} validates`);
  });

  t.test('the schema check in this test rejects a broken object (so the passes above mean something)', async (t) => {
    const broken = structuredClone(only(defaults, 'DaemonSet'));
    const probe = (broken as unknown as IDaemonSet).spec?.template.spec?.containers[0]?.readinessProbe as { periodSeconds: unknown };
    probe.periodSeconds = 'often';
    t.match(schemaProblem(broken), /periodSeconds/);
  });

  t.test('namespaced objects go to the release namespace; cluster-scoped ones carry none', async (t) => {
    for (const object of allOn) {
      const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'FlowSchema', 'PriorityLevelConfiguration'].includes(object.kind);
      t.equal(object.metadata.namespace, clusterScoped ? undefined : NAMESPACE, `${object.kind} ${object.metadata.name}`);
    }
  });

  t.test('the DaemonSet fills node-name and host-ip from the downward API, and this test samples every other flag', async (t) => {
    const env = envOf(container(defaults, 'corridor'));
    for (const [flag, fieldPath] of Object.entries(FROM_DOWNWARD_API)) {
      t.equal(env.get(envName(flag))?.valueFrom?.fieldRef?.fieldPath, fieldPath, `${envName(flag)} from ${fieldPath}`);
    }
    t.same(Object.keys(SAMPLES).sort(), AGENT_FLAGS.filter((f) => FROM_DOWNWARD_API[f.name] === undefined).map((f) => f.name).sort());
  });

  t.test('the default render gives the agent a configuration it accepts', async (t) => {
    const agent = container(defaults, 'corridor');
    t.same(agent.args, ['agent']);
    const result = parseAgentConfig([], resolvedEnv(agent));
    t.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    if (!result.ok) return;
    t.equal(result.config.nodeName, 'node-a');
    t.equal(result.config.hostIp, '10.0.0.1');
    t.equal(result.config.port, 8181);
    t.equal(result.config.adminPort, 9181);
    t.equal(result.config.stsRegion, 'us-east-1');
    t.notOk(envOf(agent).has('CORRIDOR_STS_REGION'), 'an empty value sets no variable');
  });

  t.test('every flag set through values reaches the agent as its CORRIDOR_ variable, and the agent accepts them', async (t) => {
    const set = Object.fromEntries(Object.entries(SAMPLES).map(([flag, value]) => [`agent.${camel(flag)}`, value]));
    // --set parses a {a,b} list; keep it out of --set-string.
    const objects = renderChart(bin, Object.fromEntries(Object.entries(set).filter(([k]) => k !== 'agent.passthroughPaths')), [
      '--set', `agent.passthroughPaths=${String(SAMPLES['passthrough-paths'])}`,
      // agent.startupTaint reaches the agent only where the policy that confines it can be rendered.
      '--api-versions', 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy',
    ]);
    const agent = container(objects, 'corridor');
    const env = envOf(agent);
    for (const [flag, sample] of Object.entries(SAMPLES)) {
      const expected = flag === 'passthrough-paths' ? String(sample).replace(/[{}]/g, '') : String(sample);
      t.equal(env.get(envName(flag))?.value, expected, `agent.${camel(flag)} -> ${envName(flag)}`);
    }
    const result = parseAgentConfig([], resolvedEnv(agent));
    t.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    if (!result.ok) return;
    t.equal(result.config.sessionDurationMs, 50 * 60_000);
    t.equal(result.config.stsRegion, 'eu-west-1');
    t.same(result.config.passthroughPaths, ['/latest/meta-data/placement/region', '/latest/meta-data/instance-id']);
    t.equal(result.config.annotations.serviceAccountRole, 'example.com/role-arn');
    t.same(agent.ports, undefined, 'no container ports: on the host network each would become a hostPort that keeps an upgrade\'s surge pod off the node');
    t.equal(agent.readinessProbe?.httpGet?.port, 19181, 'the readiness probe follows agent.adminPort');
    t.equal(agent.livenessProbe?.httpGet?.port, 19181, 'so does the liveness probe');
    t.same(agent.startupProbe?.exec?.command, ['/usr/local/bin/node', '/app/corridor.mjs', 'probe'], 'the startup probe asks the kernel whether this container\'s agent listens');
    t.equal(envOf(container(objects, 'iptables', true)).get('CORRIDOR_PORT')?.value, '18181', 'the iptables rule points at agent.port');
  });

  t.test('agent.passthroughPaths: [] reaches the agent as an empty list; null keeps its default list', async (t) => {
    const none = container(renderChart(bin, {}, ['--set-json', 'agent.passthroughPaths=[]']), 'corridor');
    t.equal(envOf(none).get('CORRIDOR_PASSTHROUGH_PATHS')?.value, '', 'an empty list is rendered as an empty variable');
    const result = parseAgentConfig([], resolvedEnv(none));
    t.same(result.ok && result.config.passthroughPaths, [], 'which the agent reads as proxying nothing');
    const unset = container(renderChart(bin, {}, ['--set-json', 'agent.passthroughPaths=null']), 'corridor');
    t.notOk(envOf(unset).has('CORRIDOR_PASSTHROUGH_PATHS'), 'null sets no variable');
    const fallback = parseAgentConfig([], resolvedEnv(unset));
    t.ok(fallback.ok && fallback.config.passthroughPaths.includes('/latest/meta-data/placement/region'), 'so the agent keeps its default list');
  });

  t.test('the ClusterRole grants get/list/watch on pods and namespaces, plus serviceaccounts only in that mode', async (t) => {
    t.same(grants(only(defaults, 'ClusterRole') as unknown as IClusterRole), triples(['pods', 'namespaces']), 'default');
    t.same(grants(only(allOn, 'ClusterRole') as unknown as IClusterRole), triples(['pods', 'namespaces', 'serviceaccounts']), 'agent.serviceAccountRoles=true');
    t.equal(envOf(container(allOn, 'corridor')).get('CORRIDOR_SERVICE_ACCOUNT_ROLES')?.value, 'true', 'the same value turns the agent\'s mode on');
    const binding = only(defaults, 'ClusterRoleBinding') as unknown as { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    t.equal(binding.roleRef.name, only(defaults, 'ClusterRole').metadata.name);
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: only(defaults, 'ServiceAccount').metadata.name, namespace: NAMESPACE }]);
    t.equal(podSpec(defaults).serviceAccountName, only(defaults, 'ServiceAccount').metadata.name);
  });

  t.test('the FlowSchema puts every request the agent\'s RBAC allows in a priority level of its own, whose queues one flow can fill', async (t) => {
    const withTaint = renderChart(bin, { 'agent.serviceAccountRoles': true }, ['--api-versions', 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy']);
    const schema = only(withTaint, 'FlowSchema') as unknown as IFlowSchema;
    const level = only(withTaint, 'PriorityLevelConfiguration') as unknown as IPriorityLevelConfiguration;
    t.equal(schema.spec?.priorityLevelConfiguration.name, level.metadata?.name);
    t.ok((schema.spec?.matchingPrecedence ?? 0) < 900, 'matched before kube-system-service-accounts (900), so an install in kube-system lands here too');
    t.same(schema.spec?.rules?.map((rule) => rule.subjects), [[{ kind: 'ServiceAccount', serviceAccount: { name: only(withTaint, 'ServiceAccount').metadata.name, namespace: NAMESPACE } }]]);
    const covered = new Set((schema.spec?.rules ?? []).flatMap((rule) => (rule.resourceRules ?? []).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))))));
    const granted = withTaint.filter((o) => o.kind === 'ClusterRole').flatMap((role) => grants(role as unknown as IClusterRole));
    t.same(granted.filter((grant) => !covered.has(grant)), [], `every grant of the ClusterRoles is matched: ${granted.join(' ')}`);
    t.equal(schema.spec?.distinguisherMethod, undefined, 'no distinguisher: every agent is one user, and the lists name no namespace');
    const queuing = level.spec?.limited?.limitResponse?.queuing;
    t.equal(level.spec?.type, 'Limited');
    t.equal(level.spec?.limited?.limitResponse?.type, 'Queue', 'over its seats a request waits, it is not refused');
    t.equal(queuing?.handSize, queuing?.queues, 'the one flow may use every queue');
    t.ok(Math.ceil(Math.log2(queuing?.queues ?? 0) * (queuing?.handSize ?? 0)) <= 60, 'queues^handSize fits the API server\'s 60 bits of shuffle sharding');
    t.ok((queuing?.handSize ?? 0) * (queuing?.queueLengthLimit ?? 0) >= 3000, 'the flow waits with up to 3,000 requests: three per agent on 1,000 nodes');
  });

  t.test('flowControl.enabled=false renders no flow schema and leaves the rest as it was', async (t) => {
    const off = renderChart(bin, { 'flowControl.enabled': false });
    t.same(off.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Service', 'ServiceAccount']);
  });

  t.test('the agent container is non-root, has no capabilities and a read-only root filesystem', async (t) => {
    const sc = container(defaults, 'corridor').securityContext;
    t.equal(sc?.runAsNonRoot, true);
    t.equal(sc?.runAsUser, 65532);
    t.equal(sc?.allowPrivilegeEscalation, false);
    t.equal(sc?.readOnlyRootFilesystem, true);
    t.same(sc?.capabilities, { drop: ['ALL'] }, 'drops ALL, adds nothing');
    t.equal(sc?.seccompProfile?.type, 'RuntimeDefault');
    t.notOk(sc?.privileged, 'not privileged');
  });

  t.test('the init container installs the iptables rule as root with NET_ADMIN and nothing else', async (t) => {
    const init = container(defaults, 'iptables', true);
    t.same(init.args, ['iptables', 'install'], '`corridor iptables install`, through the image\'s entrypoint');
    t.notOk(init.command, 'no shell, no script');
    t.equal(init.image, container(defaults, 'corridor').image, 'the agent\'s own image');
    const sc = init.securityContext;
    t.same(sc?.capabilities, { add: ['NET_ADMIN'], drop: ['ALL'] });
    t.equal(sc?.runAsUser, 0);
    t.equal(sc?.allowPrivilegeEscalation, false);
    t.notOk(sc?.privileged, 'not privileged');
    const env = envOf(init);
    t.equal(env.get('CORRIDOR_HOST_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP');
    t.equal(env.get('CORRIDOR_PORT')?.value, '8181');
    t.equal(env.get('CORRIDOR_INTERFACE')?.value, 'eni+');
    const interfaces = renderChart(bin, {}, ['--set', 'iptables.interfaces={cali+,eni+}']);
    t.equal(envOf(container(interfaces, 'iptables', true)).get('CORRIDOR_INTERFACE')?.value, 'cali+,eni+', 'several patterns are joined with commas');
    const off = renderChart(bin, { 'iptables.enabled': false });
    t.same(podSpec(off).initContainers?.map((c) => c.name), ['token-keys'], 'iptables.enabled=false drops the iptables init container');
  });

  t.test('the token key directory is a hostPath on the node, the agent\'s and 0700, mounted where the agent looks', async (t) => {
    const volume = podSpec(defaults).volumes?.find((v) => v.name === 'token-keys');
    t.same(volume?.hostPath, { path: '/var/lib/corridor', type: 'DirectoryOrCreate' });
    t.same(container(defaults, 'corridor').volumeMounts?.find((m) => m.name === 'token-keys'), { name: 'token-keys', mountPath: '/var/lib/corridor' });
    t.equal(envOf(container(defaults, 'corridor')).get('CORRIDOR_TOKEN_KEY_DIR')?.value, '/var/lib/corridor');
    const init = container(defaults, 'token-keys', true);
    t.same(init.args, ['token-key', 'prepare', '--owner', '65532:65532', '--token-key-dir', '/var/lib/corridor'], '`corridor token-key prepare`: no shell');
    t.notOk(init.command);
    t.same(init.securityContext?.capabilities, { add: ['CHOWN', 'FOWNER'], drop: ['ALL'] }, 'root with CHOWN and FOWNER only');
    const moved = renderChart(bin, { 'tokenKeys.hostPath': '/mnt/corridor', 'agent.tokenKeyDir': '/keys' });
    t.equal(podSpec(moved).volumes?.find((v) => v.name === 'token-keys')?.hostPath?.path, '/mnt/corridor');
    t.equal(container(moved, 'corridor').volumeMounts?.find((m) => m.name === 'token-keys')?.mountPath, '/keys');
    t.equal(container(moved, 'token-keys', true).args?.at(-1), '/keys');
  });

  t.test('the pod runs on the host network on every node, critical, probed on the admin port', async (t) => {
    const spec = podSpec(defaults);
    t.equal(spec.hostNetwork, true);
    t.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet');
    t.equal(spec.priorityClassName, 'system-node-critical');
    t.same(spec.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
    t.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    const agent = container(defaults, 'corridor');
    t.same(agent.livenessProbe?.httpGet, { path: '/healthz', port: 9181 });
    t.same(agent.readinessProbe?.httpGet, { path: '/readyz', port: 9181 });
    t.match(agent.startupProbe, { exec: { command: ['/usr/local/bin/node', '/app/corridor.mjs', 'probe'] }, periodSeconds: 1, failureThreshold: 300 });
    t.ok(agent.resources?.requests?.memory && agent.resources.limits?.memory, 'memory request and limit');
    const strategy = daemonSet(defaults).spec?.updateStrategy;
    t.same(strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '10%', maxUnavailable: 0 } }, 'a surge: the new agent starts beside the old one');
    const custom = daemonSet(renderChart(bin, { 'updateStrategy.rollingUpdate.maxUnavailable': '20%' })).spec?.updateStrategy?.rollingUpdate;
    t.equal(custom?.maxUnavailable, '20%');
  });

  t.test('the Service and the PodMonitor scrape the admin port by number (the agent declares no container port)', async (t) => {
    const service = only(defaults, 'Service') as unknown as { spec: { clusterIP?: string; ports: { name: string; port: number; targetPort: number }[]; selector: Record<string, string> } };
    t.equal(service.spec.clusterIP, 'None', 'headless by default');
    t.same(service.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['metrics', 9181, 9181]]);
    t.same(service.spec.selector, daemonSet(defaults).spec?.selector.matchLabels);
    const regular = only(renderChart(bin, { 'metrics.service.headless': false }), 'Service') as unknown as { spec: { clusterIP?: string } };
    t.equal(regular.spec.clusterIP, undefined);
    t.notOk(renderChart(bin, { 'metrics.service.enabled': false }).some((o) => o.kind === 'Service'), 'metrics.service.enabled=false drops it');
    const monitor = only(allOn, 'PodMonitor') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port?: string; path: string; relabelings: { sourceLabels?: string[]; targetLabel: string; replacement?: string }[] }[] };
    };
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    t.equal(endpoint?.path, '/metrics');
    t.same(endpoint?.relabelings[0], { sourceLabels: ['__meta_kubernetes_pod_ip'], targetLabel: '__address__', replacement: '$1:9181' }, 'the target is the pod IP and the admin port');
    t.same(monitor.spec.selector.matchLabels, daemonSet(defaults).spec?.selector.matchLabels);
  });

  t.test('values.schema.json rejects bad values', async (t) => {
    const cases: [string, RegExp][] = [
      ['agent.port=notaport', /port/],
      ['agent.sesionDuration=2h', /sesionDuration/],
      ['agent.sessionDuration=2x', /sessionDuration/],
      ['agent.logLevel=loud', /logLevel/],
      ['agent.baseRoleArn=teams', /baseRoleArn/],
      ['updateStrategy.rollingUpdate.maxSurge=-1', /maxSurge/],
      ['tokenKeys.hostPath=relative/keys', /hostPath/],
      ['flowControl.queueLengthLimit=0', /queueLengthLimit/],
      ['flowControl.lendablePercent=101', /lendablePercent/],
    ];
    for (const [set, message] of cases) {
      const result = helm(bin, ['template', 'corridor', CHART, '--set', set]);
      t.not(result.status, 0, `--set ${set} fails`);
      t.match(result.stderr, message, `and names the value: ${result.stderr.trim().split('\n').at(-1) ?? ''}`);
    }
  });

  t.test('the image is the published one, tagged appVersion (package.json\'s version), for the agent and both init containers', async (t) => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    t.equal(chart.appVersion, pkg.version);
    t.equal(container(defaults, 'corridor').image, `ghcr.io/corridor-io/corridor:${pkg.version}`);
    t.equal(container(defaults, 'iptables', true).image, `ghcr.io/corridor-io/corridor:${pkg.version}`);
    t.equal(container(defaults, 'token-keys', true).image, `ghcr.io/corridor-io/corridor:${pkg.version}`);
    const pinned = renderChart(bin, { 'image.repository': 'registry.example.com/corridor', 'image.tag': '9.9.9', 'image.digest': 'sha256:' + 'a'.repeat(64) });
    t.equal(container(pinned, 'corridor').image, `registry.example.com/corridor:9.9.9@sha256:${'a'.repeat(64)}`);
    t.equal(container(pinned, 'iptables', true).image, `registry.example.com/corridor:9.9.9@sha256:${'a'.repeat(64)}`, 'the digest too');
    const legacy = renderChart(bin, { 'iptables.backend': 'legacy' });
    t.equal(envOf(container(defaults, 'iptables', true)).get('CORRIDOR_IPTABLES_BACKEND')?.value, 'nft');
    t.equal(envOf(container(legacy, 'iptables', true)).get('CORRIDOR_IPTABLES_BACKEND')?.value, 'legacy');
  });

  t.test('the dashboard ConfigMap carries dashboards/corridor.json and the Grafana sidecar label', async (t) => {
    const configMap = only(allOn, 'ConfigMap') as unknown as K8sObject & { data: Record<string, string> };
    t.equal(configMap.metadata.labels?.grafana_dashboard, '1');
    t.equal(configMap.data['corridor.json'], readFileSync(join(CHART, 'dashboards/corridor.json'), 'utf8').trim());
  });

  t.test('the example namespace is a corridor: default role and allowed roles under the configured keys', async (t) => {
    const ns = only(allOn, 'Namespace');
    t.equal(ns.metadata.name, 'gha');
    t.equal(ns.metadata.annotations?.['iam.amazonaws.com/role'], 'spark-etl');
    t.same(JSON.parse(ns.metadata.annotations?.['iam.amazonaws.com/allowed-roles'] ?? 'null'), ['spark-*']);
    t.equal(ns.metadata.annotations?.['helm.sh/resource-policy'], 'keep', 'helm uninstall leaves the namespace alone');
    const custom = only(renderChart(bin, { 'examples.namespace.enabled': true, 'agent.roleAnnotation': 'example.com/role', 'examples.namespace.externalId': 'team-gha' }), 'Namespace');
    t.equal(custom.metadata.annotations?.['example.com/role'], 'spark-etl');
    t.equal(custom.metadata.annotations?.['iam.amazonaws.com/external-id'], 'team-gha');
  });
}
