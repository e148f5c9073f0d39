import { checkPortGuard } from './check.js';
import { ipv6RedirectChain, ipv6RejectChain, portGuardChain, portGuardLocation } from './chains.js';
import { checkChain, ensureChain, removeChain } from './managed-chain.js';
import type { IptablesRunner } from './runner.js';
import {
  CORRIDOR_CHAIN,
  METADATA_ADDRESS_V6,
  PORT_GUARD_CHAIN,
  describeIpv6,
  ipv6RedirectRules,
  ipv6RejectRules,
  portGuardRules,
  type RedirectTarget,
} from './rules.js';

/**
 * How corridor treats fd00:ec2::254. `auto` (default): manage the IPv6 rules wherever ip6tables
 * works, and only warn where it does not (an IPv4-only node without ip6tables or IPv6 support
 * still installs). `on`: an ip6tables failure fails the command. `off`: never touch ip6tables.
 * An IPv6 host address counts as `on` unless the mode is `off`: the admin asked for IPv6.
 */
export const IPV6_MODES = ['auto', 'on', 'off'] as const;
export type Ipv6Mode = (typeof IPV6_MODES)[number];

/** What the IPv6 part did: lines as install/check/remove report them, or why it was left alone. */
export type Ipv6Outcome = { managed: true; lines: string[] } | { managed: false; reason: string; warning: boolean };

/**
 * Pods' IPv6 metadata traffic: first the filter FORWARD REJECT (closed from here on), then, with
 * an IPv6 host address, the nat DNAT to the agent in front of it; without one, a DNAT chain an
 * earlier install left is removed (the REJECT already stands behind it). Idempotent.
 */
export async function installIpv6Rules(runner6: IptablesRunner, target: RedirectTarget): Promise<string[]> {
  const changes = await ensureChain(ipv6RejectChain(runner6), ipv6RejectRules(target), `REJECT rule(s) for [${METADATA_ADDRESS_V6}]:80`);
  const nat = ipv6RedirectChain(runner6);
  if (target.hostIpv6 !== undefined) {
    changes.push(...(await ensureChain(nat, ipv6RedirectRules(target), `DNAT rule(s) to [${target.hostIpv6}]:${target.port}`)));
    const guard = portGuardChain(runner6, target.port, 'ip6tables');
    const what = `REJECT rule(s) for what reaches [${target.hostIpv6}]:${target.port} without the DNAT`;
    changes.push(...(await ensureChain(guard, portGuardRules(`${target.hostIpv6}/128`), what)));
  } else {
    changes.push(...(await removeChain(nat)), ...(await removeChain(portGuardLocation(runner6, 'ip6tables'))));
  }
  return changes;
}

export async function checkIpv6Rules(runner6: IptablesRunner, target: RedirectTarget): Promise<string[]> {
  const describeReject = (i: number) => describeIpv6({ ...target, hostIpv6: undefined }, target.interfaces[i]!);
  const problems = await checkChain(ipv6RejectChain(runner6), ipv6RejectRules(target), describeReject, {
    noChain: `nothing refuses pods' traffic to [${METADATA_ADDRESS_V6}]:80 that no DNAT takes`,
    noJump: `pods reach the node's metadata service over IPv6 directly`,
  });
  const nat = ipv6RedirectChain(runner6);
  if (target.hostIpv6 !== undefined) {
    problems.push(
      ...(await checkChain(nat, ipv6RedirectRules(target), (i) => describeIpv6(target, target.interfaces[i]!), {
        noChain: `pods' IPv6 metadata traffic is refused rather than sent to the agent`,
        noJump: `pods' IPv6 metadata traffic is refused rather than sent to the agent`,
      })),
    );
    problems.push(...(await checkPortGuard(runner6, target.port, `${target.hostIpv6}/128`, 'ip6tables')));
  } else {
    if ((await nat.table.rulesOf(CORRIDOR_CHAIN)) !== undefined) {
      problems.push(`ip6tables nat chain ${CORRIDOR_CHAIN} exists but no IPv6 host address was given (install removes it)`);
    }
    if ((await portGuardLocation(runner6, 'ip6tables').table.rulesOf(PORT_GUARD_CHAIN)) !== undefined) {
      problems.push(`ip6tables filter chain ${PORT_GUARD_CHAIN} exists but no IPv6 host address was given (install removes it)`);
    }
  }
  return problems;
}

/** The DNAT first (its traffic then meets the REJECT), the REJECT last: closed until the end. */
export async function removeIpv6Rules(runner6: IptablesRunner): Promise<string[]> {
  return [
    ...(await removeChain(ipv6RedirectChain(runner6))),
    ...(await removeChain(portGuardLocation(runner6, 'ip6tables'))),
    ...(await removeChain(ipv6RejectChain(runner6))),
  ];
}

/**
 * Runs the IPv6 part under the mode: `off` skips it; where IPv6 is not required, a failure
 * (ip6tables missing, a kernel without IPv6) becomes a warning instead of an error.
 */
export async function underIpv6Mode(mode: Ipv6Mode, hostIpv6: string | undefined, work: () => Promise<string[]>): Promise<Ipv6Outcome> {
  if (mode === 'off') return { managed: false, reason: 'IPv6 left alone (--ipv6 off)', warning: false };
  try {
    return { managed: true, lines: await work() };
  } catch (error) {
    if (mode === 'on' || hostIpv6 !== undefined) throw error;
    const why = error instanceof Error ? error.message : String(error);
    const reason =
      `IPv6 not managed, pods may reach [${METADATA_ADDRESS_V6}]:80 if this node has IPv6 ` +
      `(--ipv6 on makes this an error, --ipv6 off silences it): ${why}`;
    return { managed: false, reason, warning: true };
  }
}
