import { CoreV1Api } from '@kubernetes/client-node';
import { explainAccess } from '../admin/index.js';
import { policyOptions, type FlagSpec } from '../config/index.js';
// client-node is what a person's kubeconfig most likely needs (exec plugins such as `aws eks
// get-token`); this command is loaded on demand, so the agent never pays for it.
import { loadKubeConfig } from '../kube/api/client-node.js';
import { parseNamespace, parsePod, parseServiceAccount, type ServiceAccountInfo } from '../kube/index.js';
import { decideRole } from '../policy/index.js';
import { KUBECONFIG_POLICY_FLAGS, parseCommandFlags } from './command-flags.js';

const EXPLAIN_FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', kind: 'string', required: true, help: 'the pod\'s namespace' },
  { name: 'pod', kind: 'string', required: true, help: 'the pod\'s name' },
  ...KUBECONFIG_POLICY_FLAGS,
];

/**
 * `corridor explain`: reads the pod, its namespace and ServiceAccount through a kubeconfig and
 * runs the agent's own decision code on them. Prints JSON; exits 0 when allowed, 1 when denied.
 */
export async function runExplainCommand(argv: string[], out: (text: string) => void = (text) => process.stdout.write(text)): Promise<number> {
  const parsed = parseCommandFlags('explain', EXPLAIN_FLAGS, argv, policyOptions);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values, derived: policy } = parsed;
  const get = (name: string) => values.get(name) as string | undefined;
  const namespaceName = get('namespace') as string;

  const api = loadKubeConfig(get('kubeconfig'), {}, get('context')).makeApiClient(CoreV1Api);
  const pod = parsePod(await api.readNamespacedPod({ name: get('pod') as string, namespace: namespaceName }));
  const namespace = parseNamespace(await api.readNamespace({ name: namespaceName }));
  let serviceAccount: ServiceAccountInfo | undefined;
  if (policy.serviceAccountRoles) {
    serviceAccount = parseServiceAccount(await api.readNamespacedServiceAccount({ name: pod.serviceAccountName, namespace: namespaceName }));
  }
  const decision = decideRole({ pod, namespace, serviceAccount }, policy);
  const explanation = explainAccess({ ip: pod.ip ?? '', pod, decision, sessionKey: undefined }, undefined);
  out(`${JSON.stringify(explanation, null, 2)}\n`);
  return decision.allowed ? 0 : 1;
}
