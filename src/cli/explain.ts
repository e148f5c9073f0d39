import type { CoreV1Api } from '@kubernetes/client-node';
import { explainAccess } from '../admin/index.js';
import { AGENT_FLAGS, pickFlags, policyOptions, type FlagSpec } from '../config/index.js';
import { parseNamespace, parsePod, parseServiceAccount, type NamespaceInfo, type PodInfo, type ServiceAccountInfo } from '../kube/index.js';
import { decideRole, type PolicyOptions } from '../policy/index.js';
import { describeApiError, openClusterApi } from '../kube/api/cluster-api.js';
import { defineCommand } from './command.js';
import { KUBECONFIG_POLICY_FLAGS } from './kubeconfig-flags.js';
import { EXIT } from './exit-codes.js';

const EXPLAIN_FLAGS = [
  { name: 'namespace', kind: 'string', required: true, help: 'the pod\'s namespace' },
  { name: 'pod', kind: 'string', required: true, help: 'the pod\'s name' },
  ...KUBECONFIG_POLICY_FLAGS,
  // What the pod's role must trust depends on it: the trust subject is shown in web-identity mode.
  ...pickFlags(AGENT_FLAGS, ['credential-mode']),
] as const satisfies readonly FlagSpec[];

/**
 * `corridor explain`: reads the pod, its namespace and ServiceAccount through a kubeconfig and
 * runs the agent's own decision code on them. Prints JSON; exits 0 when allowed, 1 when denied,
 * 3 with one line on stderr when the API server cannot be asked.
 */
export const explainCommand = defineCommand({
  name: 'explain',
  flags: EXPLAIN_FLAGS,
  input: ({ values }, errors) => ({ ...values, policy: policyOptions(values, errors) }),
  async run({ kubeconfig, context, namespace, pod, policy, credentialMode }, io) {
    let objects: PodObjects;
    try {
      const { core, where } = openClusterApi(kubeconfig, context);
      objects = await readPodObjects(core, namespace, pod, policy).catch((error: unknown) => {
        throw new Error(`cannot read from ${where}: ${describeApiError(error)}`);
      });
    } catch (error) {
      io.err(`corridor explain: ${describeApiError(error)}`);
      return EXIT.cluster;
    }
    const decision = decideRole(objects, policy);
    const explanation = explainAccess({ ip: objects.pod.ip ?? '', pod: objects.pod, decision, sessionKey: undefined }, undefined, 'admin', credentialMode);
    io.out(JSON.stringify(explanation, null, 2));
    return decision.allowed ? EXIT.ok : EXIT.no;
  },
});

/** `corridor explain`, writing to `out` and `err` (stdout and stderr by default). */
export async function runExplainCommand(
  argv: string[],
  out: (text: string) => void = (text) => process.stdout.write(text),
  err: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  return explainCommand.main(argv, { env: process.env, out: (text) => out(`${text}\n`), err: (text) => err(`${text}\n`) });
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
