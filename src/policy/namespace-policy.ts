import { compileGlob } from './glob.js';
import { isRoleArn, isRoleNamePattern, resolveRole, truncate, type RoleRef } from './role-arn.js';
import { parseSessionPolicies } from './session-policy.js';
import type { AnnotationKeys } from './types.js';

/** What a namespace's annotations say, parsed once per namespace version. */
export interface NamespacePolicy {
  defaultRole: RoleRef | undefined;
  /** The namespace default role, when it is a short name and the agent has no --base-role-arn. */
  defaultRoleNeedsBase: string | undefined;
  /**
   * How many allowed-roles entries are short names or globs while the agent has no
   * --base-role-arn: they match no role at all (a short name never stands for any account).
   */
  shortPatternsWithoutBase: number;
  externalId: string | undefined;
  /** The inline session policy as compact JSON, passed to AssumeRole as Policy. */
  sessionPolicy: string | undefined;
  /** Managed session policy ARNs (deduplicated, in order), passed to AssumeRole as PolicyArns. */
  policyArns: readonly string[] | undefined;
  /**
   * The allowed-roles entries as the full-ARN globs \`allows\` matches (short ones under the base
   * ARN, in the annotation's order); what `corridor audit` compares across namespaces.
   */
  allowedPatterns: readonly string[];
  /** Set when an annotation is malformed: every pod of the namespace is denied with it. */
  problem: string | undefined;
  allows(role: RoleRef): boolean;
}

// AssumeRole's ExternalId constraint.
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

export function parseNamespacePolicy(
  annotations: Readonly<Record<string, string>>,
  keys: AnnotationKeys,
  baseRoleArn: string | undefined,
): NamespacePolicy {
  const problems: string[] = [];
  let defaultRole: RoleRef | undefined;
  let defaultRoleNeedsBase: string | undefined;
  const defaultText = annotations[keys.role];
  if (defaultText !== undefined) {
    const resolved = resolveRole(defaultText, baseRoleArn);
    if (resolved.ok) defaultRole = resolved.role;
    else if (resolved.noBase) defaultRoleNeedsBase = defaultText.trim();
    else problems.push(`${keys.role}: ${resolved.problem}`);
  }

  const patterns: RegExp[] = [];
  const allowedPatterns: string[] = [];
  let shortPatternsWithoutBase = 0;
  const allowedText = annotations[keys.allowedRoles];
  if (allowedText !== undefined) {
    const parsed = parseAllowedRoles(allowedText, baseRoleArn);
    if (typeof parsed === 'string') problems.push(`${keys.allowedRoles}: ${parsed}`);
    else {
      allowedPatterns.push(...parsed.patterns);
      patterns.push(...parsed.patterns.map(compileGlob));
      shortPatternsWithoutBase = parsed.shortWithoutBase;
    }
  }

  const externalIdText = annotations[keys.externalId];
  if (externalIdText !== undefined && !EXTERNAL_ID.test(externalIdText)) {
    problems.push(`${keys.externalId}: not a valid ExternalId (2-1224 of [\\w+=,.@:/-])`);
  }

  const sessionPolicies = parseSessionPolicies(annotations, keys);
  problems.push(...sessionPolicies.problems);

  return {
    defaultRole,
    defaultRoleNeedsBase,
    shortPatternsWithoutBase,
    externalId: externalIdText,
    sessionPolicy: sessionPolicies.sessionPolicy,
    policyArns: sessionPolicies.policyArns,
    allowedPatterns,
    problem: problems.length > 0 ? problems.join('; ') : undefined,
    allows(role) {
      if (defaultRole !== undefined && defaultRole.arn === role.arn) return true;
      // Every pattern is a full-ARN glob: partition, account and path are always part of the match.
      return patterns.some((p) => p.test(role.arn));
    },
  };
}

function parseAllowedRoles(text: string, baseRoleArn: string | undefined): { patterns: string[]; shortWithoutBase: number } | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `not valid JSON (expected an array like ["spark-*"])`;
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    return 'expected a JSON array of strings';
  }
  const patterns: string[] = [];
  let shortWithoutBase = 0;
  for (const entry of value) {
    const trimmed = entry.trim();
    if (trimmed.startsWith('arn:')) {
      if (!isRoleArn(trimmed.replace(/\*/g, 'x'))) return `"${truncate(trimmed)}" is not a role ARN or ARN glob`;
      patterns.push(trimmed);
    } else {
      if (!isRoleNamePattern(trimmed)) return `"${truncate(trimmed)}" is not a role name or glob`;
      // Only under the base ARN; without one a short name or glob names no account, so it matches nothing.
      if (baseRoleArn === undefined) shortWithoutBase++;
      else patterns.push(baseRoleArn + trimmed.replace(/^\/+/, ''));
    }
  }
  return { patterns, shortWithoutBase };
}
