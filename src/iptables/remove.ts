import { NatTable } from './nat-table.js';
import type { IptablesRunner } from './runner.js';
import { CORRIDOR_CHAIN, ENTRY_CHAIN, jumpRule } from './rules.js';

/** What remove deleted, one line each; empty when nothing of corridor's was there. */
export type RemoveReport = string[];

// Older or hand-made installs may have added the jump more than once; this bounds the loop.
const MAX_JUMPS = 64;

/**
 * Deletes corridor's jump from nat PREROUTING, then its chain, and nothing else. Afterwards pods
 * reach the node's real metadata service again: this is for taking corridor off a node, never
 * for stopping the agent (a stopped agent keeps failing closed behind the rules).
 */
export async function removeRules(runner: IptablesRunner): Promise<RemoveReport> {
  const nat = new NatTable(runner);
  if ((await nat.rulesOf(CORRIDOR_CHAIN)) === undefined) return [];
  const removed: RemoveReport = [];
  let jumps = 0;
  while (jumps < MAX_JUMPS && (await nat.hasRule(ENTRY_CHAIN, jumpRule()))) {
    await nat.deleteRule(ENTRY_CHAIN, jumpRule());
    jumps++;
  }
  if (jumps > 0) removed.push(`deleted the ${ENTRY_CHAIN} jump to ${CORRIDOR_CHAIN}${jumps > 1 ? ` (${jumps} copies)` : ''}`);
  // Fails (and says so) if something else still jumps to the chain: that rule is not ours to delete.
  await nat.deleteChain(CORRIDOR_CHAIN);
  removed.push(`deleted nat chain ${CORRIDOR_CHAIN}`);
  return removed;
}
