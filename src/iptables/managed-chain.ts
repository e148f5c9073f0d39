import type { RuleTable } from './rule-table.js';

/** One of corridor's chains and the jump into it, with the words messages use for them. */
export interface ManagedChain {
  table: RuleTable;
  /** The chain's name: CORRIDOR-IMDS, CORRIDOR-PORT. */
  name: string;
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

/** What remove needs of a chain: where it is and its words, not the jump's exact form (which may hold settings remove is not given, such as a port). */
export type ChainLocation = Pick<ManagedChain, 'table' | 'name' | 'label' | 'entry' | 'entryLabel'>;

/**
 * Fills the chain with exactly `wanted` (one transaction) and only then adds the jump, first in
 * its built-in chain: no packet ever finds the jump with an empty or half-built chain behind it.
 * Idempotent; returns what changed, one line each.
 */
export async function ensureChain(chain: ManagedChain, wanted: readonly (readonly string[])[], rulesText: string): Promise<string[]> {
  const { table } = chain;
  const changes: string[] = [];
  const current = await table.rulesOf(chain.name);
  if (current === undefined || !(await holdsExactly(table, chain.name, current, wanted))) {
    await table.replaceChain(chain.name, wanted);
    changes.push(`${current === undefined ? 'created' : 'rewrote'} ${chain.label} chain ${chain.name} with ${wanted.length} ${rulesText}`);
  }
  if (!(await table.hasRule(chain.entry, chain.jump))) {
    await table.insertFirst(chain.entry, chain.jump);
    changes.push(`inserted the ${chain.entryLabel} jump to ${chain.name} for ${chain.traffic}`);
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
  const current = await table.rulesOf(chain.name);
  // Without the chain there can be no jump to it either (iptables refuses one).
  if (current === undefined) return [`${chain.label} chain ${chain.name} does not exist, so ${consequence.noChain}`];
  const problems: string[] = [];
  if (!(await table.hasRule(chain.entry, chain.jump))) {
    problems.push(`${chain.label} ${chain.entry} has no jump to ${chain.name} for ${chain.traffic}, so ${consequence.noJump}`);
  }
  let present = 0;
  for (const [i, rule] of wanted.entries()) {
    if (await table.hasRule(chain.name, rule)) present++;
    else problems.push(`${chain.label} chain ${chain.name} lacks the rule ${describe(i)}`);
  }
  if (current.length > present) {
    const extra = current.length - present;
    problems.push(`${chain.label} chain ${chain.name} holds ${extra} rule(s) install would not write (all its rules: ${current.join(' | ')})`);
  }
  return problems;
}

/**
 * Deletes every rule of the entry chain that jumps to ours (any copy, any match: an older install,
 * another port), then the chain, and nothing else; returns what it deleted. Each jump is deleted
 * by the words `-S` lists it with, which are the words that delete it.
 */
export async function removeChain(chain: ChainLocation): Promise<string[]> {
  const { table } = chain;
  if ((await table.rulesOf(chain.name)) === undefined) return [];
  const removed: string[] = [];
  const prefix = `-A ${chain.entry} `;
  const jumps = ((await table.rulesOf(chain.entry)) ?? []).filter((line) => line.startsWith(prefix) && line.endsWith(` -j ${chain.name}`));
  for (const line of jumps) await table.deleteRule(chain.entry, line.slice(prefix.length).split(' '));
  if (jumps.length > 0) removed.push(`deleted the ${chain.entryLabel} jump to ${chain.name}${jumps.length > 1 ? ` (${jumps.length} copies)` : ''}`);
  // Fails (and says so) if something else still jumps to the chain: that rule is not ours to delete.
  await table.deleteChain(chain.name);
  removed.push(`deleted ${chain.label} chain ${chain.name}`);
  return removed;
}

/** The chain holds every wanted rule and nothing else (the wanted rules are distinct). */
async function holdsExactly(table: RuleTable, name: string, current: readonly string[], wanted: readonly (readonly string[])[]): Promise<boolean> {
  if (current.length !== wanted.length) return false;
  for (const rule of wanted) if (!(await table.hasRule(name, rule))) return false;
  return true;
}
