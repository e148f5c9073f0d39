import { isIPv4 } from 'node:net';
import { parseFlags, parseHostIpv6, type FlagSpec, type FlagValues } from '../config/index.js';
import { formatInterfacePattern, parseInterfacePattern, type InterfacePattern } from './interface-pattern.js';
import { IPV6_MODES, type Ipv6Mode } from './ipv6.js';
import type { RedirectTarget } from './rules.js';

export const IPTABLES_ACTIONS = ['install', 'check', 'remove'] as const;

/**
 * Which iptables binaries run: `path` the iptables and ip6tables on PATH (the system's choice;
 * nft in corridor's image), `nft` iptables-nft, `legacy` iptables-legacy. The image carries both
 * backends; the node's decides (rules written with the other one are not what the kernel uses).
 */
const IPTABLES_BACKENDS = ['path', 'nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];
export type IptablesAction = (typeof IPTABLES_ACTIONS)[number];

/** The flags of `corridor iptables`; names and env vars match the agent's where they mean the same. */
export const IPTABLES_FLAGS = [
  { name: 'host-ip', kind: 'string', help: 'the agent\'s address, the DNAT target (the node IP); needed by install and check' },
  {
    name: 'host-ipv6',
    kind: 'string',
    emptyMeans: 'no IPv6 address',
    help:
      'the agent\'s IPv6 address (the node\'s), the DNAT target for fd00:ec2::254; ' +
      'or status.hostIPs, of which the IPv6 one is taken; none: pods\' IPv6 metadata traffic is refused',
  },
  { name: 'port', kind: 'port', default: '8181', help: 'the agent\'s metadata port' },
  {
    name: 'interface',
    kind: 'list',
    repeatable: true,
    help: 'pod interface patterns, comma-separated: cali+, eni+, cni0, veth+; !eth0 means every interface but eth0; needed by install and check',
  },
  {
    name: 'ipv6',
    kind: 'string',
    default: 'auto',
    choices: IPV6_MODES,
    help: 'ip6tables rules for fd00:ec2::254: auto (where ip6tables works, else a warning), on (failure is an error), off',
  },
  {
    name: 'iptables-backend',
    kind: 'string',
    default: 'path',
    choices: IPTABLES_BACKENDS,
    help: 'the node\'s iptables backend: path (iptables and ip6tables on PATH), nft (iptables-nft) or legacy (iptables-legacy, e.g. Amazon Linux 2)',
  },
] as const satisfies readonly FlagSpec[];

export type IptablesFlagValues = FlagValues<typeof IPTABLES_FLAGS>;

export type IptablesOptions =
  | { action: 'install' | 'check'; target: Readonly<RedirectTarget>; ipv6: Ipv6Mode; backend: IptablesBackend }
  | { action: 'remove'; ipv6: Ipv6Mode; backend: IptablesBackend };

export type IptablesOptionsResult = { ok: true; options: IptablesOptions } | { ok: false; help: boolean; errors: string[] };

/**
 * `corridor iptables <action> [flags]` from argv and CORRIDOR_* env; every problem is reported
 * together. remove needs no flags, so the DaemonSet can pass the same environment to all three.
 */
export function parseIptablesOptions(argv: readonly string[], env: NodeJS.ProcessEnv): IptablesOptionsResult {
  const { values, action, errors, help } = parseFlags(IPTABLES_FLAGS, argv, env, IPTABLES_ACTIONS);
  if (help) return { ok: false, help: true, errors };
  if (action === undefined) return { ok: false, help: false, errors };
  const options = iptablesOptions(action, values, errors);
  return errors.length > 0 ? { ok: false, help: false, errors } : { ok: true, options };
}

/** The options of one action from its parsed flags; what the table cannot check alone adds to `errors`. */
export function iptablesOptions(action: IptablesAction, values: IptablesFlagValues, errors: string[]): IptablesOptions {
  const { ipv6, iptablesBackend: backend } = values;
  if (action === 'remove') return { action, ipv6, backend };

  const { port, hostIp } = values;
  if (port === 0) errors.push('--port: 0 is not a port a pod can be sent to (1-65535)');
  if (hostIp === undefined) errors.push(`--host-ip (or CORRIDOR_HOST_IP) is required by ${action}`);
  else if (!isIPv4(hostIp)) errors.push(`--host-ip: "${hostIp}" is not an IPv4 address (169.254.169.254 is IPv4-only)`);
  const hostIpv6 = parseHostIpv6(values.hostIpv6);
  if (!hostIpv6.ok) errors.push(`--host-ipv6: ${hostIpv6.error}`);
  const interfaceTexts = values.interface ?? [];
  if (interfaceTexts.length === 0) errors.push(`--interface (or CORRIDOR_INTERFACE) is required by ${action}: the pod interface pattern, e.g. cali+ or eni+`);
  const interfaces = parseInterfaces(interfaceTexts, errors);
  const target = { hostIp: hostIp ?? '', port, interfaces: Object.freeze(interfaces), hostIpv6: hostIpv6.ok ? hostIpv6.address : undefined };
  return { action, target: Object.freeze(target), ipv6, backend };
}

/** Parses every pattern, reporting each bad one; a pattern given twice counts once. */
function parseInterfaces(texts: readonly string[], errors: string[]): InterfacePattern[] {
  const patterns = new Map<string, InterfacePattern>();
  for (const text of texts) {
    const result = parseInterfacePattern(text);
    if (!result.ok) errors.push(`--interface: ${result.error}`);
    else patterns.set(formatInterfacePattern(result.pattern), result.pattern);
  }
  return [...patterns.values()];
}
