import { compileGlob } from './glob.js';
import { isRoleArn, isRoleNamePattern, resolveRole, rolePathAndName, truncate, type RoleRef } from './role-arn.js';
import type { AnnotationKeys } from './types.js';

interface AllowedPattern {
  regex: RegExp;
  /** Full-ARN patterns match the ARN; short ones without a base ARN match `path/name`. */
  matchesFullArn: boolean;
}

/** What a namespace's annotations say, parsed once per namespace version. */
export interface NamespacePolicy {
  defaultRole: RoleRef | undefined;
  externalId: string | undefined;
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
  const defaultText = annotations[keys.role];
  if (defaultText !== undefined) {
    const resolved = resolveRole(defaultText, baseRoleArn);
    if (resolved.ok) defaultRole = resolved.role;
    else problems.push(`${keys.role}: ${resolved.problem}`);
  }

  const patterns: AllowedPattern[] = [];
  const allowedText = annotations[keys.allowedRoles];
  if (allowedText !== undefined) {
    const parsed = parseAllowedRoles(allowedText, baseRoleArn);
    if (typeof parsed === 'string') problems.push(`${keys.allowedRoles}: ${parsed}`);
    else patterns.push(...parsed);
  }

  const externalIdText = annotations[keys.externalId];
  if (externalIdText !== undefined && !EXTERNAL_ID.test(externalIdText)) {
    problems.push(`${keys.externalId}: not a valid ExternalId (2-1224 of [\\w+=,.@:/-])`);
  }

  return {
    defaultRole,
    externalId: externalIdText,
    problem: problems.length > 0 ? problems.join('; ') : undefined,
    allows(role) {
      if (defaultRole !== undefined && defaultRole.arn === role.arn) return true;
      const pathAndName = rolePathAndName(role.arn);
      return patterns.some((p) => p.regex.test(p.matchesFullArn ? role.arn : pathAndName));
    },
  };
}

function parseAllowedRoles(text: string, baseRoleArn: string | undefined): AllowedPattern[] | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `not valid JSON (expected an array like ["spark-*"])`;
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    return 'expected a JSON array of strings';
  }
  const patterns: AllowedPattern[] = [];
  for (const entry of value) {
    const trimmed = entry.trim();
    if (trimmed.startsWith('arn:')) {
      if (!isRoleArn(trimmed.replace(/\*/g, 'x'))) return `"${truncate(trimmed)}" is not a role ARN or ARN glob`;
      patterns.push({ regex: compileGlob(trimmed), matchesFullArn: true });
    } else {
      if (!isRoleNamePattern(trimmed)) return `"${truncate(trimmed)}" is not a role name or glob`;
      const name = trimmed.replace(/^\/+/, '');
      patterns.push(
        baseRoleArn !== undefined
          ? { regex: compileGlob(baseRoleArn + name), matchesFullArn: true }
          : { regex: compileGlob(name), matchesFullArn: false },
      );
    }
  }
  return patterns;
}
