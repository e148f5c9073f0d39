import type { RuleTable } from './rule-table.js';
import { CORRIDOR_CHAIN } from './rules.js';

/** One of corridor's chains and the jump into it, with the words messages use for them. */
export interface ManagedChain {
  table: RuleTable;
  /** `nat`, `ip6tables filter`: messages say "<label> chain CORRIDOR-IMDS". */
  label: string;
  /** The built-in chain holding the jump. */
  entry: string;
  /** How messages name the jump: "the <entryLabel> jump". */
  entryLabel: string;
  jump: readonly string[];
  /** What the jump catches, for messages: `169.254.169.254:80`. */
  traffic: string;
}

// Older or hand-made installs may have added the jump more than once; this bounds the loop.
const MAX_JUMPS = 64;

/**
 * Fills the chain with exactly `wanted` (one transaction) and only then adds the jump, first in
 * its built-in chain: no packet ever finds the jump with an empty or half-built chain behind it.
 * Idempotent; returns what changed, one line each.
 */
export async function ensureChain(chain: ManagedChain, wanted: readonly (readonly string[])[], rulesText: string): Promise<string[]> {
  const { table } = chain;
  const changes: string[] = [];
  const current = await table.rulesOf(CORRIDOR_CHAIN);
  if (current === undefined || !(await holdsExactly(table, current, wanted))) {
    await table.replaceChain(CORRIDOR_CHAIN, wanted);
    changes.push(`${current === undefined ? 'created' : 'rewrote'} ${chain.label} chain ${CORRIDOR_CHAIN} with ${wanted.length} ${rulesText}`);
  }
  if (!(await table.hasRule(chain.entry, chain.jump))) {
    await table.insertFirst(chain.entry, chain.jump);
    changes.push(`inserted the ${chain.entryLabel} jump to ${CORRIDOR_CHAIN} for ${chain.traffic}`);
  }
  return changes;
}

/** What differs from what ensureChain leaves, one line each; `describe(i)` names wanted rule i. */
export async function checkChain(
  chain: ManagedChain,
  wanted: readonly (readonly string[])[],
  describe: (index: number) => string,
  consequence: { noChain: string; noJump: string },
): Promise<string[]> {
  const { table } = chain;
  const current = await table.rulesOf(CORRIDOR_CHAIN);
  // Without the chain there can be no jump to it either (iptables refuses one).
  if (current === undefined) return [`${chain.label} chain ${CORRIDOR_CHAIN} does not exist, so ${consequence.noChain}`];
  const problems: string[] = [];
  if (!(await table.hasRule(chain.entry, chain.jump))) {
    problems.push(`${chain.label} ${chain.entry} has no jump to ${CORRIDOR_CHAIN} for ${chain.traffic}, so ${consequence.noJump}`);
  }
  let present = 0;
  for (const [i, rule] of wanted.entries()) {
    if (await table.hasRule(CORRIDOR_CHAIN, rule)) present++;
    else problems.push(`${chain.label} chain ${CORRIDOR_CHAIN} lacks the rule ${describe(i)}`);
  }
  if (current.length > present) {
    problems.push(`${chain.label} chain ${CORRIDOR_CHAIN} holds ${current.length - present} rule(s) install would not write (all its rules: ${current.join(' | ')})`);
  }
  return problems;
}

/** Deletes every copy of the jump, then the chain, and nothing else; returns what it deleted. */
export async function removeChain(chain: ManagedChain): Promise<string[]> {
  const { table } = chain;
  if ((await table.rulesOf(CORRIDOR_CHAIN)) === undefined) return [];
  const removed: string[] = [];
  let jumps = 0;
  while (jumps < MAX_JUMPS && (await table.hasRule(chain.entry, chain.jump))) {
    await table.deleteRule(chain.entry, chain.jump);
    jumps++;
  }
  if (jumps > 0) removed.push(`deleted the ${chain.entryLabel} jump to ${CORRIDOR_CHAIN}${jumps > 1 ? ` (${jumps} copies)` : ''}`);
  // Fails (and says so) if something else still jumps to the chain: that rule is not ours to delete.
  await table.deleteChain(CORRIDOR_CHAIN);
  removed.push(`deleted ${chain.label} chain ${CORRIDOR_CHAIN}`);
  return removed;
}

/** The chain holds every wanted rule and nothing else (the wanted rules are distinct). */
async function holdsExactly(table: RuleTable, current: readonly string[], wanted: readonly (readonly string[])[]): Promise<boolean> {
  if (current.length !== wanted.length) return false;
  for (const rule of wanted) if (!(await table.hasRule(CORRIDOR_CHAIN, rule))) return false;
  return true;
}
