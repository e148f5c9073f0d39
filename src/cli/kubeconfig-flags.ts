import { AGENT_FLAGS, pickFlags, POLICY_FLAGS, type FlagSpec } from '../config/index.js';

/**
 * The flags of commands that read the cluster through a person's kubeconfig and decide as the
 * agent does (`explain`, `audit`): where to find the cluster, then the agent's own policy flags,
 * which config's policyOptions reads.
 */
export const KUBECONFIG_POLICY_FLAGS = [
  ...pickFlags(AGENT_FLAGS, ['kubeconfig']),
  { name: 'context', kind: 'string', help: 'kubeconfig context to use; default: its current-context' },
  ...POLICY_FLAGS,
] as const satisfies readonly FlagSpec[];
