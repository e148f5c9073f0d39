import { createHash } from 'node:crypto';

/** STS limits RoleSessionName to 2..64 characters of this set. */
const MAX_LENGTH = 64;
const DISALLOWED = /[^\w+=,.@-]/g;
const HASH_CHARS = 8;

/**
 * RoleSessionName for sessions assumed on behalf of a namespace on this node, so CloudTrail
 * shows who used a role: `corridor.<namespace>.<node>`.
 *
 * Too long (EKS node names alone are ~45 characters), the node's DNS domain goes first
 * (`ip-10-0-1-2.eu-west-1.compute.internal` -> `ip-10-0-1-2`), then the tail is cut; either way
 * a `-<8 hex>` hash of the full input is appended, so a shortened name stays deterministic and
 * two different inputs do not collapse into one name.
 */
export function roleSessionName(namespace: string, nodeName: string): string {
  const full = sanitize(`corridor.${namespace}.${nodeName}`);
  if (full.length <= MAX_LENGTH) return full;

  const suffix = `-${createHash('sha256').update(`${namespace}\n${nodeName}`).digest('hex').slice(0, HASH_CHARS)}`;
  const budget = MAX_LENGTH - suffix.length;
  const nodeHost = nodeName.split('.')[0] ?? nodeName;
  const short = sanitize(`corridor.${namespace}.${nodeHost}`);
  const readable = short.length <= budget ? short : short.slice(0, budget);
  // A cut can leave a dangling separator; `corridor..-abc` reads worse than `corridor-abc`.
  return readable.replace(/[.-]+$/, '') + suffix;
}

/**
 * RoleSessionName for a session assumed for one pod (`--session-scope=pod`), so CloudTrail itself
 * names the pod behind every call: `corridor.<namespace>.<pod>`.
 *
 * Kubernetes makes (namespace, name) unique among live pods and neither can hold a `/`, `_` or
 * (the namespace) a `.`, so the full form is unique per pod. Too long, the tail is cut and
 * `_<8 hex>` of sha256(`<namespace>/<pod>`) appended: deterministic, pods whose names are cut
 * alike still differ, and as no Kubernetes name contains `_` a cut name never equals a full one.
 */
export function podSessionName(namespace: string, podName: string): string {
  const full = sanitize(`corridor.${namespace}.${podName}`);
  if (full.length <= MAX_LENGTH) return full;
  const suffix = `_${createHash('sha256').update(`${namespace}/${podName}`).digest('hex').slice(0, HASH_CHARS)}`;
  return full.slice(0, MAX_LENGTH - suffix.length).replace(/[.-]+$/, '') + suffix;
}

function sanitize(text: string): string {
  return text.replace(DISALLOWED, '-');
}
