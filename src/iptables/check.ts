import { ipv4Chain, portGuardChain } from './chains.js';
import { checkChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';
import { describeRedirect, portGuardRules, redirectRules, type RedirectTarget } from './rules.js';

/** What is wrong, one line each; empty when the rules are exactly as install leaves them. */
export type CheckReport = string[];

export async function checkRules(runner: IptablesRunner, target: RedirectTarget): Promise<CheckReport> {
  return [
    ...(await checkChain(ipv4Chain(runner), redirectRules(target), (i) => describeRedirect(target, target.interfaces[i]!), {
      noChain: 'pods\' metadata traffic is not sent to the agent',
      noJump: 'pods reach the node\'s metadata service directly',
    })),
    ...(await checkPortGuard(runner, target.port, `${target.hostIp}/32`, 'iptables')),
  ];
}

/** The guard of the agent's port, for `hostAddress` (with its prefix length). */
export function checkPortGuard(runner: IptablesRunner, port: number, hostAddress: string, binary: 'iptables' | 'ip6tables'): Promise<CheckReport> {
  const describe = () => `refusing what reaches ${hostAddress} port ${port} without the DNAT`;
  return checkChain(portGuardChain(runner, port, binary), portGuardRules(hostAddress), describe, {
    noChain: `any pod of the cluster reaches the agent's port ${port} directly`,
    noJump: `any pod of the cluster reaches the agent's port ${port} directly`,
  });
}
