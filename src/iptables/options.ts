import { isIPv4 } from 'node:net';
import { parseFlags, parseHostIpv6, type FlagSpec } from '../config/index.js';
import { formatInterfacePattern, parseInterfacePattern, type InterfacePattern } from './interface-pattern.js';
import { IPV6_MODES, type Ipv6Mode } from './ipv6.js';
import type { RedirectTarget } from './rules.js';

export const IPTABLES_ACTIONS = ['install', 'check', 'remove'] as const;
export type IptablesAction = (typeof IPTABLES_ACTIONS)[number];

/** The flags of `corridor iptables`; names and env vars match the agent's where they mean the same. */
export const IPTABLES_FLAGS: readonly FlagSpec[] = [
  { name: 'host-ip', kind: 'string', help: 'the agent\'s address, the DNAT target (the node IP); needed by install and check' },
  {
    name: 'host-ipv6',
    kind: 'string',
    emptyMeans: 'no IPv6 address',
    help: 'the agent\'s IPv6 address (the node\'s), the DNAT target for fd00:ec2::254; or status.hostIPs, of which the IPv6 one is taken; none: pods\' IPv6 metadata traffic is refused',
  },
  { name: 'port', kind: 'port', default: '8181', help: 'the agent\'s metadata port' },
  {
    name: 'interface',
    kind: 'list',
    repeatable: true,
    help: 'pod interface patterns, comma-separated: cali+, eni+, cni0, veth+; !eth0 means every interface but eth0; needed by install and check',
  },
  { name: 'ipv6', kind: 'string', default: 'auto', help: 'ip6tables rules for fd00:ec2::254: auto (where ip6tables works, else a warning), on (failure is an error), off' },
];

export type IptablesOptions =
  | { action: 'install' | 'check'; target: Readonly<RedirectTarget>; ipv6: Ipv6Mode }
  | { action: 'remove'; ipv6: Ipv6Mode };

export type IptablesOptionsResult = { ok: true; options: IptablesOptions } | { ok: false; help: boolean; errors: string[] };

/**
 * `corridor iptables <action> [flags]` from argv and CORRIDOR_* env; every problem is reported
 * together. remove needs no flags, so the DaemonSet can pass the same environment to all three.
 */
export function parseIptablesOptions(argv: readonly string[], env: NodeJS.ProcessEnv): IptablesOptionsResult {
  const { values, positionals, errors, help } = parseFlags(IPTABLES_FLAGS, argv, env);
  const [actionText, ...extra] = positionals;
  const action = IPTABLES_ACTIONS.find((a) => a === actionText);
  if (help) return { ok: false, help: true, errors };
  if (actionText === undefined) errors.unshift(`an action is required: ${IPTABLES_ACTIONS.join(', ')}`);
  else if (action === undefined) errors.unshift(`unknown action "${actionText}" (${IPTABLES_ACTIONS.join(', ')})`);
  if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);

  if (action === undefined) return { ok: false, help: false, errors };
  const ipv6Text = values.get('ipv6') as string;
  const ipv6 = IPV6_MODES.find((mode) => mode === ipv6Text);
  if (ipv6 === undefined) errors.push(`--ipv6: "${ipv6Text}" is not one of ${IPV6_MODES.join(', ')}`);
  if (action === 'remove') return errors.length > 0 ? { ok: false, help: false, errors } : { ok: true, options: { action, ipv6: ipv6 as Ipv6Mode } };

  const port = values.get('port') as number | undefined;
  if (port === 0) errors.push('--port: 0 is not a port a pod can be sent to (1-65535)');
  const hostIp = values.get('host-ip') as string | undefined;
  if (hostIp === undefined) errors.push(`--host-ip (or CORRIDOR_HOST_IP) is required by ${action}`);
  else if (!isIPv4(hostIp)) errors.push(`--host-ip: "${hostIp}" is not an IPv4 address (169.254.169.254 is IPv4-only)`);
  const hostIpv6 = parseHostIpv6(values.get('host-ipv6') as string | undefined);
  if (!hostIpv6.ok) errors.push(`--host-ipv6: ${hostIpv6.error}`);
  const interfaceTexts = (values.get('interface') as readonly string[] | undefined) ?? [];
  if (interfaceTexts.length === 0) errors.push(`--interface (or CORRIDOR_INTERFACE) is required by ${action}: the pod interface pattern, e.g. cali+ or eni+`);
  const interfaces = parseInterfaces(interfaceTexts, errors);
  if (errors.length > 0) return { ok: false, help: false, errors };
  const target = { hostIp: hostIp as string, port: port as number, interfaces: Object.freeze(interfaces), hostIpv6: hostIpv6.ok ? hostIpv6.address : undefined };
  return { ok: true, options: { action, target: Object.freeze(target), ipv6: ipv6 as Ipv6Mode } };
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
