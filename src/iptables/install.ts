import { ensureChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';
import { ipv4Chain, portGuardChain } from './chains.js';
import { portGuardRules, redirectRules, type RedirectTarget } from './rules.js';

/** What install changed, one line each; empty when everything was already in place. */
export type InstallReport = string[];

/**
 * Makes the nat table send pods' metadata traffic to the agent, and the filter table refuse what
 * reaches the agent's port any other way (except from the node itself). Idempotent: a second run with
 * the same target changes nothing. Order matters for failing closed: the chain is complete
 * before the jump into it exists, and a chain that must change is replaced in one transaction,
 * so no packet ever finds the jump with an empty or half-built chain behind it.
 */
export async function installRules(runner: IptablesRunner, target: RedirectTarget): Promise<InstallReport> {
  return [
    ...(await ensureChain(ipv4Chain(runner), redirectRules(target), `DNAT rule(s) to ${target.hostIp}:${target.port}`)),
    ...(await ensureChain(
      portGuardChain(runner, target.port, 'iptables'),
      portGuardRules(`${target.hostIp}/32`),
      `REJECT rule(s) for what reaches ${target.hostIp}:${target.port} without the DNAT`,
    )),
  ];
}
