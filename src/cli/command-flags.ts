import { AGENT_FLAGS, parseFlags, usage, type FlagSpec, type FlagValue } from '../config/index.js';
import { EXIT } from './exit-codes.js';

type FlagValues = ReadonlyMap<string, FlagValue>;

const POLICY_FLAGS = ['base-role-arn', 'service-account-roles', 'role-annotation', 'allowed-roles-annotation', 'external-id-annotation', 'session-policy-annotation', 'session-policy-arns-annotation', 'service-account-role-annotation'];

/**
 * The flags of commands that read the cluster through a person's kubeconfig and decide as the
 * agent does (`explain`, `audit`): where to find the cluster, then the agent's own policy flags,
 * which config's policyOptions reads.
 */
export const KUBECONFIG_POLICY_FLAGS: readonly FlagSpec[] = [
  ...AGENT_FLAGS.filter((f) => f.name === 'kubeconfig'),
  { name: 'context', kind: 'string', help: 'kubeconfig context to use; default: its current-context' },
  ...AGENT_FLAGS.filter((f) => POLICY_FLAGS.includes(f.name)),
];

/**
 * Flags of a command, plus what `derive` makes of them (it may add errors), or the exit code when
 * there is nothing to run: 0 after --help, 2 after printing every bad flag on one line.
 */
export function parseCommandFlags<T = undefined>(
  command: string,
  specs: readonly FlagSpec[],
  argv: readonly string[],
  derive: (values: FlagValues, errors: string[]) => T = () => undefined as T,
): { values: FlagValues; derived: T } | { exitCode: number } {
  const { values, errors, help } = parseFlags(specs, argv, process.env);
  if (help) {
    process.stdout.write(`${usage(command, specs)}\n`);
    return { exitCode: EXIT.ok };
  }
  const derived = derive(values, errors);
  if (errors.length > 0) {
    process.stderr.write(`corridor ${command}: ${errors.join('; ')}\n`);
    return { exitCode: EXIT.usage };
  }
  return { values, derived };
}
