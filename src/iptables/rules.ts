import { formatInterfacePattern, interfaceMatch, type InterfacePattern } from './interface-pattern.js';

/** corridor's own nat chain; nothing else is ever written to it. */
export const CORRIDOR_CHAIN = 'CORRIDOR-IMDS';
/** The built-in chain that jumps to ours: DNAT has to happen before routing. */
export const ENTRY_CHAIN = 'PREROUTING';
export const METADATA_ADDRESS = '169.254.169.254';

/** Where pods' metadata traffic goes: the agent on this node, for pods behind these interfaces. */
export interface RedirectTarget {
  hostIp: string;
  port: number;
  interfaces: readonly InterfacePattern[];
}

/** Only metadata traffic is touched; every other packet never enters corridor's chain. */
const METADATA_TRAFFIC = ['-d', `${METADATA_ADDRESS}/32`, '-p', 'tcp', '--dport', '80'];

/** The rule in nat PREROUTING that sends metadata traffic into corridor's chain. */
export function jumpRule(): string[] {
  return [...METADATA_TRAFFIC, '-j', CORRIDOR_CHAIN];
}

/**
 * One DNAT rule per interface pattern. Each repeats the metadata match (and DNAT with a port
 * needs `-p tcp` in the same rule anyway), so a rule means the same wherever it is read.
 */
export function redirectRules(target: RedirectTarget): string[][] {
  return target.interfaces.map((pattern) => [
    ...METADATA_TRAFFIC,
    ...interfaceMatch(pattern),
    '-j',
    'DNAT',
    '--to-destination',
    `${target.hostIp}:${target.port}`,
  ]);
}

/** `-i cali+ -> 10.0.1.5:8181`, for messages. */
export function describeRedirect(target: RedirectTarget, pattern: InterfacePattern): string {
  return `-i ${formatInterfacePattern(pattern)} -> ${target.hostIp}:${target.port}`;
}

// ---- iptables argument lists, all in the nat table ----

export const natArgs = {
  check: (chain: string, rule: readonly string[]) => ['-t', 'nat', '-C', chain, ...rule],
  /** First position, so no rule added earlier by someone else can let the traffic past us. */
  insertFirst: (chain: string, rule: readonly string[]) => ['-t', 'nat', '-I', chain, '1', ...rule],
  delete: (chain: string, rule: readonly string[]) => ['-t', 'nat', '-D', chain, ...rule],
  list: (chain: string) => ['-t', 'nat', '-S', chain],
  flush: (chain: string) => ['-t', 'nat', '-F', chain],
  deleteChain: (chain: string) => ['-t', 'nat', '-X', chain],
};

/**
 * `iptables-restore --noflush` input that creates the chain, or empties an existing one, and
 * fills it in one transaction: an update never leaves the chain empty, even for a moment.
 */
export function chainRestoreInput(chain: string, rules: readonly (readonly string[])[]): string {
  return ['*nat', `:${chain} - [0:0]`, ...rules.map((rule) => `-A ${chain} ${rule.join(' ')}`), 'COMMIT', ''].join('\n');
}
