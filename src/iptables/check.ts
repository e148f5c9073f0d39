import { NatTable } from './nat-table.js';
import type { IptablesRunner } from './runner.js';
import { CORRIDOR_CHAIN, ENTRY_CHAIN, describeRedirect, jumpRule, redirectRules, type RedirectTarget } from './rules.js';

/** What is wrong, one line each; empty when the rules are exactly as install leaves them. */
export type CheckReport = string[];

export async function checkRules(runner: IptablesRunner, target: RedirectTarget): Promise<CheckReport> {
  const nat = new NatTable(runner);
  const current = await nat.rulesOf(CORRIDOR_CHAIN);
  // Without the chain there can be no jump to it either (iptables refuses one).
  if (current === undefined) return [`nat chain ${CORRIDOR_CHAIN} does not exist, so pods' metadata traffic is not sent to the agent`];

  const problems: CheckReport = [];
  if (!(await nat.hasRule(ENTRY_CHAIN, jumpRule()))) {
    problems.push(`nat ${ENTRY_CHAIN} has no jump to ${CORRIDOR_CHAIN} for 169.254.169.254:80, so pods reach the node's metadata service directly`);
  }
  const wanted = redirectRules(target);
  let present = 0;
  for (const [i, rule] of wanted.entries()) {
    if (await nat.hasRule(CORRIDOR_CHAIN, rule)) present++;
    else problems.push(`nat chain ${CORRIDOR_CHAIN} lacks the rule ${describeRedirect(target, target.interfaces[i]!)}`);
  }
  if (current.length > present) {
    problems.push(`nat chain ${CORRIDOR_CHAIN} holds ${current.length - present} rule(s) install would not write (all its rules: ${current.join(' | ')})`);
  }
  return problems;
}
