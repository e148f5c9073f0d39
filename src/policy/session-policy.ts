import { truncate } from './role-arn.js';
import type { AnnotationKeys } from './types.js';

/**
 * STS's limit on session policies: "The plain text that you use for both inline and managed
 * session policies can't exceed 2,048 characters." Checked on what corridor sends: the inline
 * policy as compact JSON plus the managed policy ARNs, together.
 */
const SESSION_POLICY_MAX_CHARS = 2048;
/** STS accepts at most 10 managed session policy ARNs. */
const POLICY_ARNS_MAX = 10;

// A managed policy: customer (12-digit account) or AWS managed (`aws`), optionally under a path.
const POLICY_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,128}$/;
const VERSIONS = new Set(['2012-10-17', '2008-10-17']);
// STS takes \u0009, \u000A, \u000D and \u0020-\u00FF; compact JSON escapes the control characters.
const OUTSIDE_STS_CHARSET = /[^\u0020-\u00ff]/;

/** A namespace's session policies, normalised: exactly what goes into the cache key and the AssumeRole call. */
export interface SessionPolicies {
  /** The inline policy as compact JSON (JSON.stringify of the parsed document: no whitespace, no raw newline). */
  sessionPolicy: string | undefined;
  /** Managed policy ARNs, trimmed, in the annotation's order, duplicates dropped; undefined when none. */
  policyArns: readonly string[] | undefined;
  /** One entry per problem, each naming its annotation; any problem denies the namespace. */
  problems: string[];
}

/** Reads the session-policy and session-policy-arns annotations of a namespace. */
export function parseSessionPolicies(annotations: Readonly<Record<string, string>>, keys: AnnotationKeys): SessionPolicies {
  const problems: string[] = [];
  let sessionPolicy: string | undefined;
  const policyText = annotations[keys.sessionPolicy];
  if (policyText !== undefined) {
    const parsed = parseInlinePolicy(policyText);
    if (parsed.ok) sessionPolicy = parsed.text;
    else problems.push(`${keys.sessionPolicy}: ${parsed.problem}`);
  }

  let policyArns: readonly string[] | undefined;
  const arnsText = annotations[keys.sessionPolicyArns];
  if (arnsText !== undefined) {
    const parsed = parsePolicyArns(arnsText);
    if (typeof parsed === 'string') problems.push(`${keys.sessionPolicyArns}: ${parsed}`);
    else if (parsed.length > 0) policyArns = Object.freeze(parsed);
  }

  const size = (sessionPolicy?.length ?? 0) + (policyArns ?? []).reduce((sum, arn) => sum + arn.length, 0);
  if (problems.length === 0 && size > SESSION_POLICY_MAX_CHARS) {
    const what =
      policyArns === undefined
        ? `${keys.sessionPolicy}: ${size} characters as compact JSON`
        : sessionPolicy === undefined
          ? `${keys.sessionPolicyArns}: ${size} characters of ARNs`
          : `${keys.sessionPolicy} and ${keys.sessionPolicyArns}: ${size} characters together (the policy as compact JSON plus the ARNs)`;
    problems.push(`${what}, over STS's ${SESSION_POLICY_MAX_CHARS} for session policies`);
  }
  return { sessionPolicy, policyArns, problems };
}

function parseInlinePolicy(text: string): { ok: true; text: string } | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not valid JSON (expected an IAM policy document like {"Version":"2012-10-17","Statement":[...]})' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'expected a JSON object (an IAM policy document with Version and Statement)' };
  }
  const document = value as Record<string, unknown>;
  if (typeof document.Version !== 'string' || !VERSIONS.has(document.Version)) {
    return { ok: false, problem: 'Version must be "2012-10-17" (or "2008-10-17")' };
  }
  const statement = document.Statement;
  const isObject = (s: unknown) => typeof s === 'object' && s !== null && !Array.isArray(s);
  if (!(isObject(statement) || (Array.isArray(statement) && statement.length > 0 && statement.every(isObject)))) {
    return { ok: false, problem: 'Statement must be an object or a non-empty array of objects' };
  }
  const compact = JSON.stringify(document);
  if (OUTSIDE_STS_CHARSET.test(compact)) return { ok: false, problem: 'contains characters STS does not accept in a policy (only \\u0020-\\u00FF)' };
  return { ok: true, text: compact };
}

function parsePolicyArns(text: string): string[] | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON (expected an array like ["arn:aws:iam::123456789012:policy/gha-buckets"])';
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    return 'expected a JSON array of managed policy ARNs';
  }
  const arns: string[] = [];
  for (const entry of value) {
    const arn = entry.trim();
    if (!POLICY_ARN.test(arn)) return `"${truncate(arn)}" is not a managed policy ARN (arn:<partition>:iam::<account|aws>:policy/<path/name>)`;
    if (!arns.includes(arn)) arns.push(arn);
  }
  if (arns.length > POLICY_ARNS_MAX) return `${arns.length} distinct ARNs, over STS's ${POLICY_ARNS_MAX}`;
  return arns;
}
