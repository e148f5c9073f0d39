import { ipv4Chain, portGuardLocation } from './chains.js';
import { removeChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';

/** What remove deleted, one line each; empty when nothing of corridor's was there. */
export type RemoveReport = string[];

/**
 * Deletes corridor's jump from nat PREROUTING, then its chain, and the guard of the agent's port
 * (its INPUT jumps and its filter chain), and nothing else. Afterwards pods
 * reach the node's real metadata service again: this is for taking corridor off a node, never
 * for stopping the agent (a stopped agent keeps failing closed behind the rules).
 */
export async function removeRules(runner: IptablesRunner): Promise<RemoveReport> {
  return [...(await removeChain(ipv4Chain(runner))), ...(await removeChain(portGuardLocation(runner, 'iptables')))];
}
