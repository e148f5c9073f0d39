import { ensureChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';
import { ipv4Chain } from './chains.js';
import { redirectRules, type RedirectTarget } from './rules.js';

/** What install changed, one line each; empty when everything was already in place. */
export type InstallReport = string[];

/**
 * Makes the nat table send pods' metadata traffic to the agent. Idempotent: a second run with
 * the same target changes nothing. Order matters for failing closed: the chain is complete
 * before the jump into it exists, and a chain that must change is replaced in one transaction,
 * so no packet ever finds the jump with an empty or half-built chain behind it.
 */
export async function installRules(runner: IptablesRunner, target: RedirectTarget): Promise<InstallReport> {
  return ensureChain(ipv4Chain(runner), redirectRules(target), `DNAT rule(s) to ${target.hostIp}:${target.port}`);
}
