import { NatTable } from './nat-table.js';
import type { IptablesRunner } from './runner.js';
import { CORRIDOR_CHAIN, ENTRY_CHAIN, jumpRule, redirectRules, type RedirectTarget } from './rules.js';

/** What install changed, one line each; empty when everything was already in place. */
export type InstallReport = string[];

/**
 * Makes the nat table send pods' metadata traffic to the agent. Idempotent: a second run with
 * the same target changes nothing. Order matters for failing closed: the chain is complete
 * before the jump into it exists, and a chain that must change is replaced in one transaction,
 * so no packet ever finds the jump with an empty or half-built chain behind it.
 */
export async function installRules(runner: IptablesRunner, target: RedirectTarget): Promise<InstallReport> {
  const nat = new NatTable(runner);
  const changes: InstallReport = [];
  const wanted = redirectRules(target);

  const current = await nat.rulesOf(CORRIDOR_CHAIN);
  if (current === undefined || !(await holdsExactly(nat, current, wanted))) {
    await nat.replaceChain(CORRIDOR_CHAIN, wanted);
    changes.push(`${current === undefined ? 'created' : 'rewrote'} nat chain ${CORRIDOR_CHAIN} with ${wanted.length} DNAT rule(s) to ${target.hostIp}:${target.port}`);
  }
  if (!(await nat.hasRule(ENTRY_CHAIN, jumpRule()))) {
    await nat.insertFirst(ENTRY_CHAIN, jumpRule());
    changes.push(`inserted the ${ENTRY_CHAIN} jump to ${CORRIDOR_CHAIN} for 169.254.169.254:80`);
  }
  return changes;
}

/** The chain holds every wanted rule and nothing else (the wanted rules are distinct). */
async function holdsExactly(nat: NatTable, current: readonly string[], wanted: readonly string[][]): Promise<boolean> {
  if (current.length !== wanted.length) return false;
  for (const rule of wanted) if (!(await nat.hasRule(CORRIDOR_CHAIN, rule))) return false;
  return true;
}
