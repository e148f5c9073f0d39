import type { CoreV1Api } from '@kubernetes/client-node';
import { explainAccess } from '../admin/index.js';
import { policyOptions, type FlagSpec } from '../config/index.js';
import { parseNamespace, parsePod, parseServiceAccount, type NamespaceInfo, type PodInfo, type ServiceAccountInfo } from '../kube/index.js';
import { decideRole, type PolicyOptions } from '../policy/index.js';
import { describeApiError, openClusterApi } from './cluster-api.js';
import { KUBECONFIG_POLICY_FLAGS, parseCommandFlags } from './command-flags.js';
import { EXIT } from './exit-codes.js';

const EXPLAIN_FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', kind: 'string', required: true, help: 'the pod\'s namespace' },
  { name: 'pod', kind: 'string', required: true, help: 'the pod\'s name' },
  ...KUBECONFIG_POLICY_FLAGS,
];

/**
 * `corridor explain`: reads the pod, its namespace and ServiceAccount through a kubeconfig and
 * runs the agent's own decision code on them. Prints JSON; exits 0 when allowed, 1 when denied,
 * 3 with one line on stderr when the API server cannot be asked.
 */
export async function runExplainCommand(
  argv: string[],
  out: (text: string) => void = (text) => process.stdout.write(text),
  err: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  const parsed = parseCommandFlags('explain', EXPLAIN_FLAGS, argv, policyOptions);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values, derived: policy } = parsed;
  const get = (name: string) => values.get(name) as string | undefined;

  let objects: PodObjects;
  try {
    const { core, where } = openClusterApi(get('kubeconfig'), get('context'));
    objects = await readPodObjects(core, get('namespace') as string, get('pod') as string, policy).catch((error: unknown) => {
      throw new Error(`cannot read from ${where}: ${describeApiError(error)}`);
    });
  } catch (error) {
    err(`corridor explain: ${describeApiError(error)}\n`);
    return EXIT.cluster;
  }
  const decision = decideRole(objects, policy);
  const explanation = explainAccess({ ip: objects.pod.ip ?? '', pod: objects.pod, decision, sessionKey: undefined }, undefined);
  out(`${JSON.stringify(explanation, null, 2)}\n`);
  return decision.allowed ? EXIT.ok : EXIT.no;
}

interface PodObjects {
  pod: PodInfo;
  namespace: NamespaceInfo;
  serviceAccount: ServiceAccountInfo | undefined;
}

/** The pod, its namespace and (with ServiceAccount roles on) its ServiceAccount. */
async function readPodObjects(core: CoreV1Api, namespaceName: string, podName: string, policy: PolicyOptions): Promise<PodObjects> {
  const pod = parsePod(await core.readNamespacedPod({ name: podName, namespace: namespaceName }));
  const namespace = parseNamespace(await core.readNamespace({ name: namespaceName }));
  const serviceAccount = policy.serviceAccountRoles
    ? parseServiceAccount(await core.readNamespacedServiceAccount({ name: pod.serviceAccountName, namespace: namespaceName }))
    : undefined;
  return { pod, namespace, serviceAccount };
}
