import { formatInterfacePattern, interfaceMatch, type InterfacePattern } from './interface-pattern.js';

/** corridor's own chain (in nat, and for IPv6 also in filter); nothing else is ever written to it. */
export const CORRIDOR_CHAIN = 'CORRIDOR-IMDS';
/** The built-in chain that jumps to ours: DNAT has to happen before routing. */
export const ENTRY_CHAIN = 'PREROUTING';
/**
 * corridor's filter chain guarding the agent's metadata port: only pods' traffic that came through
 * the DNAT, and the node itself, may reach it. Every pod of the cluster can route to the node's
 * IP; traffic that did not come through the DNAT has no business there.
 */
export const PORT_GUARD_CHAIN = 'CORRIDOR-PORT';
/** Where the guard is jumped to from: traffic addressed to the node. */
export const INPUT_CHAIN = 'INPUT';
/** Where the IPv6 REJECT is jumped to from: pods' traffic to fd00:ec2::254 is routed by the node. */
export const FORWARD_CHAIN = 'FORWARD';
export const METADATA_ADDRESS = '169.254.169.254';
/** The instance metadata service's IPv6 endpoint (Nitro instances with the IPv6 endpoint enabled). */
export const METADATA_ADDRESS_V6 = 'fd00:ec2::254';

/** Where pods' metadata traffic goes: the agent on this node, for pods behind these interfaces. */
export interface RedirectTarget {
  hostIp: string;
  port: number;
  interfaces: readonly InterfacePattern[];
  /**
   * The agent's IPv6 address (the node's): pods' traffic to fd00:ec2::254 is sent there.
   * Undefined: that traffic is refused instead (REJECT with a TCP reset).
   */
  hostIpv6?: string | undefined;
}

/** Only metadata traffic is touched; every other packet never enters corridor's chain. */
const METADATA_TRAFFIC = ['-d', `${METADATA_ADDRESS}/32`, '-p', 'tcp', '--dport', '80'];
const METADATA_TRAFFIC_V6 = ['-d', `${METADATA_ADDRESS_V6}/128`, '-p', 'tcp', '--dport', '80'];

/** The rule in nat PREROUTING that sends metadata traffic into corridor's chain. */
export function jumpRule(): string[] {
  return [...METADATA_TRAFFIC, '-j', CORRIDOR_CHAIN];
}

/** The IPv6 jump, the same in ip6tables nat PREROUTING and filter FORWARD. */
export function ipv6JumpRule(): string[] {
  return [...METADATA_TRAFFIC_V6, '-j', CORRIDOR_CHAIN];
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

/** The IPv6 DNAT rules (ip6tables nat), to `[hostIpv6]:port`; none without an IPv6 host address. */
export function ipv6RedirectRules(target: RedirectTarget): string[][] {
  if (target.hostIpv6 === undefined) return [];
  return target.interfaces.map((pattern) => [
    ...METADATA_TRAFFIC_V6,
    ...interfaceMatch(pattern),
    '-j',
    'DNAT',
    '--to-destination',
    `[${target.hostIpv6}]:${target.port}`,
  ]);
}

/**
 * The IPv6 backstop (ip6tables filter): pods' traffic to fd00:ec2::254 that no DNAT took is
 * refused with a TCP reset, so an SDK fails at once instead of waiting for a timeout.
 * DNATed traffic is addressed to the node by then and goes to INPUT, never FORWARD.
 */
export function ipv6RejectRules(target: Pick<RedirectTarget, 'interfaces'>): string[][] {
  return target.interfaces.map((pattern) => [...METADATA_TRAFFIC_V6, ...interfaceMatch(pattern), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
}

/** The INPUT jump into the port guard: TCP to the agent's port (the host address is checked in the chain). */
export function portGuardJump(port: number): string[] {
  return ['-p', 'tcp', '-m', 'tcp', '--dport', String(port), '-j', PORT_GUARD_CHAIN];
}

/**
 * The port guard: a connection to the agent's address that was not DNATed (a pod of another node,
 * or of this one, dialling HOST_IP:8181 directly) and does not come from the node itself is
 * refused with a TCP reset. `hostAddress` with its prefix length: `10.0.1.5/32`, `fd00::5/128`.
 */
export function portGuardRules(hostAddress: string): string[][] {
  return [
    [
      ...['-d', hostAddress, '-p', 'tcp'],
      ...['-m', 'conntrack', '!', '--ctstate', 'DNAT'],
      ...['-m', 'addrtype', '!', '--src-type', 'LOCAL'],
      ...['-j', 'REJECT', '--reject-with', 'tcp-reset'],
    ],
  ];
}

/** `-i cali+ -> 10.0.1.5:8181`, for messages. */
export function describeRedirect(target: RedirectTarget, pattern: InterfacePattern): string {
  return `-i ${formatInterfacePattern(pattern)} -> ${target.hostIp}:${target.port}`;
}

/** `-i cali+ -> [fd00:10::5]:8181`, or `-i cali+ refused` without an IPv6 host address. */
export function describeIpv6(target: RedirectTarget, pattern: InterfacePattern): string {
  const to = target.hostIpv6 === undefined ? 'refused' : `-> [${target.hostIpv6}]:${target.port}`;
  return `-i ${formatInterfacePattern(pattern)} ${to}`;
}

// ---- iptables argument lists for one table ----

export type TableName = 'nat' | 'filter';

export function tableArgs(table: TableName) {
  return {
    check: (chain: string, rule: readonly string[]) => ['-t', table, '-C', chain, ...rule],
    /** First position, so no rule added earlier by someone else can let the traffic past us. */
    insertFirst: (chain: string, rule: readonly string[]) => ['-t', table, '-I', chain, '1', ...rule],
    delete: (chain: string, rule: readonly string[]) => ['-t', table, '-D', chain, ...rule],
    list: (chain: string) => ['-t', table, '-S', chain],
    flush: (chain: string) => ['-t', table, '-F', chain],
    deleteChain: (chain: string) => ['-t', table, '-X', chain],
  };
}

/**
 * `iptables-restore --noflush` input that creates the chain, or empties an existing one, and
 * fills it in one transaction: an update never leaves the chain empty, even for a moment.
 */
export function chainRestoreInput(chain: string, rules: readonly (readonly string[])[], table: TableName = 'nat'): string {
  return [`*${table}`, `:${chain} - [0:0]`, ...rules.map((rule) => `-A ${chain} ${rule.join(' ')}`), 'COMMIT', ''].join('\n');
}
