/** A role name as IAM allows it, optionally with a path: `spark-etl`, `teams/spark-etl`. */
const ROLE_NAME = /^([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}):role\/(([\w+=,.@-]+\/)*[\w+=,.@-]{1,64})$/;

export interface RoleRef {
  arn: string;
  /** Last path segment: what IMDS lists under security-credentials/. */
  name: string;
  accountId: string;
}

/** `noBase`: a well-formed short name, but the agent has no --base-role-arn to put it under. */
export type ResolveResult = { ok: true; role: RoleRef } | { ok: false; problem: string; noBase: boolean };

/** What a denial for a short name without a base ARN tells the operator to do. */
export const NO_BASE_ADVICE = 'set --base-role-arn or name full role ARNs';

/** Turns an annotation value into a full role ARN: ARNs pass through, short names get the base prefix. */
export function resolveRole(value: string, baseRoleArn: string | undefined): ResolveResult {
  const text = value.trim();
  if (text.startsWith('arn:')) {
    const match = ROLE_ARN.exec(text);
    if (!match) return { ok: false, problem: `"${truncate(text)}" is not an IAM role ARN`, noBase: false };
    return { ok: true, role: { arn: text, name: lastSegment(text), accountId: match[2] as string } };
  }
  const name = text.replace(/^\/+/, '');
  if (!ROLE_NAME.test(name)) return { ok: false, problem: `"${truncate(text)}" is not a role name or ARN`, noBase: false };
  // A short name never guesses an account: without a base ARN it resolves to nothing.
  if (baseRoleArn === undefined) return { ok: false, problem: `role "${truncate(name)}" is a short name but the agent has no --base-role-arn`, noBase: true };
  return resolveRole(baseRoleArn + name, undefined);
}

export function isRoleArn(text: string): boolean {
  return ROLE_ARN.test(text);
}

export function isRoleNamePattern(text: string): boolean {
  return ROLE_NAME.test(text.replace(/\*/g, 'x').replace(/^\/+/, ''));
}

function lastSegment(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** Keeps untrusted text short in messages. */
export function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
