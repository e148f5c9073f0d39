import { auditCluster, readCluster, type ClusterSnapshot } from '../audit/index.js';
import { policyOptions, type FlagSpec } from '../config/index.js';
import { describeApiError, openClusterApi } from '../kube/api/cluster-api.js';
import { renderAuditTable } from './audit-table.js';
import { defineCommand } from './command.js';
import { KUBECONFIG_POLICY_FLAGS } from './kubeconfig-flags.js';
import { EXIT } from './exit-codes.js';

const AUDIT_FLAGS = [
  ...KUBECONFIG_POLICY_FLAGS,
  { name: 'agent-namespace', kind: 'string', default: 'corridor', help: 'namespace of the corridor agent\'s DaemonSet pods' },
  { name: 'agent-selector', kind: 'string', default: 'app.kubernetes.io/name=corridor', help: 'label selector of the agent\'s pods in that namespace' },
  {
    name: 'agent-admin-port',
    kind: 'port',
    default: '9181',
    help: 'the agents\' admin port, whose /metrics audit reads through the API server (pods/proxy) for what only a node knows',
  },
  { name: 'output', kind: 'string', default: 'table', choices: ['table', 'json'], help: 'table (for people) or json (for tools)' },
  { name: 'request-timeout', kind: 'duration', default: '30s', help: 'give up reading the cluster after this long' },
] as const satisfies readonly FlagSpec[];

/**
 * `corridor audit`: every namespace's corridor and every pod's decision, from a kubeconfig, by the
 * agent's own policy code, and the findings that say corridors are not isolated or not served.
 * Exits 0 without findings, 1 with some, 2 on bad flags, 3 when the API server cannot be asked.
 */
export const auditCommand = defineCommand({
  name: 'audit',
  flags: AUDIT_FLAGS,
  input: ({ values }, errors) => ({ ...values, policy: policyOptions(values, errors) }),
  async run(input, io) {
    let snapshot: ClusterSnapshot;
    try {
      const { core, where } = openClusterApi(input.kubeconfig, input.context);
      snapshot = await readCluster(core, where, {
        serviceAccounts: input.policy.serviceAccountRoles,
        agentNamespace: input.agentNamespace,
        agentSelector: input.agentSelector,
        agentAdminPort: input.agentAdminPort,
        timeoutMs: input.requestTimeout,
      });
    } catch (error) {
      io.err(`corridor audit: ${describeApiError(error)}`);
      return EXIT.cluster;
    }
    const report = auditCluster(snapshot, input.policy);
    io.out(input.output === 'json' ? JSON.stringify(report, null, 2) : renderAuditTable(report));
    return report.findings.length > 0 ? EXIT.no : EXIT.ok;
  },
});

/** `corridor audit`, writing to `out` and `err` (stdout and stderr by default). */
export async function runAuditCommand(
  argv: string[],
  out: (text: string) => void = (text) => process.stdout.write(text),
  err: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  return auditCommand.main(argv, { env: process.env, out: (text) => out(`${text}\n`), err: (text) => err(`${text}\n`) });
}
