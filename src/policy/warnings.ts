import { NO_BASE_ADVICE } from './role-arn.js';

/**
 * What the policy settings make impossible, for the composition root to log once at start-up.
 * Without --base-role-arn a short role name or glob names no account, so it matches no role;
 * namespaces that use them deny their pods with `no-base-role-arn`.
 */
export function policyWarnings(options: { baseRoleArn: string | undefined }): string[] {
  if (options.baseRoleArn !== undefined) return [];
  return [`no --base-role-arn: short role names and globs in annotations match no role, and their pods are denied (no-base-role-arn); ${NO_BASE_ADVICE}`];
}
