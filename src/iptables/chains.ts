import type { ChainLocation, ManagedChain } from './managed-chain.js';
import { RuleTable } from './rule-table.js';
import type { IptablesRunner } from './runner.js';
import {
  CORRIDOR_CHAIN,
  ENTRY_CHAIN,
  FORWARD_CHAIN,
  INPUT_CHAIN,
  METADATA_ADDRESS,
  METADATA_ADDRESS_V6,
  PORT_GUARD_CHAIN,
  ipv6JumpRule,
  jumpRule,
  portGuardJump,
} from './rules.js';

/** iptables nat: PREROUTING jumps to the DNAT rules for 169.254.169.254. */
export function ipv4Chain(runner: IptablesRunner): ManagedChain {
  return {
    table: new RuleTable(runner, 'nat'),
    name: CORRIDOR_CHAIN,
    label: 'nat',
    entry: ENTRY_CHAIN,
    entryLabel: ENTRY_CHAIN,
    jump: jumpRule(),
    traffic: `${METADATA_ADDRESS}:80`,
  };
}

/** ip6tables filter: FORWARD jumps to the REJECT rules for fd00:ec2::254, the backstop. */
export function ipv6RejectChain(runner6: IptablesRunner): ManagedChain {
  return {
    table: new RuleTable(runner6, 'filter', 'ip6tables'),
    name: CORRIDOR_CHAIN,
    label: 'ip6tables filter',
    entry: FORWARD_CHAIN,
    entryLabel: `ip6tables ${FORWARD_CHAIN}`,
    jump: ipv6JumpRule(),
    traffic: `[${METADATA_ADDRESS_V6}]:80`,
  };
}

/** ip6tables nat: PREROUTING jumps to the DNAT rules for fd00:ec2::254, when the node has an IPv6 address. */
export function ipv6RedirectChain(runner6: IptablesRunner): ManagedChain {
  return {
    table: new RuleTable(runner6, 'nat', 'ip6tables'),
    name: CORRIDOR_CHAIN,
    label: 'ip6tables nat',
    entry: ENTRY_CHAIN,
    entryLabel: `ip6tables ${ENTRY_CHAIN}`,
    jump: ipv6JumpRule(),
    traffic: `[${METADATA_ADDRESS_V6}]:80`,
  };
}

/** filter INPUT (iptables or ip6tables) jumps to the guard of the agent's port: where it is, for remove. */
export function portGuardLocation(runner: IptablesRunner, binary: 'iptables' | 'ip6tables'): ChainLocation {
  const prefix = binary === 'iptables' ? '' : 'ip6tables ';
  return {
    table: new RuleTable(runner, 'filter', binary),
    name: PORT_GUARD_CHAIN,
    label: `${prefix}filter`,
    entry: INPUT_CHAIN,
    entryLabel: `${prefix}${INPUT_CHAIN}`,
  };
}

/** The guard with its jump for the agent's port, for install and check. */
export function portGuardChain(runner: IptablesRunner, port: number, binary: 'iptables' | 'ip6tables'): ManagedChain {
  return { ...portGuardLocation(runner, binary), jump: portGuardJump(port), traffic: `the agent's port ${port}` };
}
