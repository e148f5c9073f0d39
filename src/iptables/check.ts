import { ipv4Chain } from './chains.js';
import { checkChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';
import { describeRedirect, redirectRules, type RedirectTarget } from './rules.js';

/** What is wrong, one line each; empty when the rules are exactly as install leaves them. */
export type CheckReport = string[];

export async function checkRules(runner: IptablesRunner, target: RedirectTarget): Promise<CheckReport> {
  return checkChain(ipv4Chain(runner), redirectRules(target), (i) => describeRedirect(target, target.interfaces[i]!), {
    noChain: 'pods\' metadata traffic is not sent to the agent',
    noJump: 'pods reach the node\'s metadata service directly',
  });
}
