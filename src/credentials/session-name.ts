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
  return readable.replace(/[.\-]+$/, '') + suffix;
}

function sanitize(text: string): string {
  return text.replace(DISALLOWED, '-');
}
