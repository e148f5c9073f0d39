import { isIP, isIPv6 } from 'node:net';
import { socketForm } from '../net/index.js';

export type HostIpv6Result = { ok: true; address: string | undefined } | { ok: false; error: string };

/**
 * The node's IPv6 address from `--host-ipv6`: one address, or the Downward API's comma-separated
 * `status.hostIPs` (which cannot be narrowed to one family), of which the first IPv6 address is
 * taken. No IPv6 address in it (empty, or an IPv4-only node's `10.0.1.5`) means none. Link-local
 * addresses are refused: a DNAT target or listen address needs no zone. The address comes back
 * in the form Node's sockets print (RFC 5952: `fd00:10::5`), so it compares as text.
 */
export function parseHostIpv6(text: string | undefined): HostIpv6Result {
  const entries = (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = entries.find((entry) => isIP(entry) === 0);
  if (bad !== undefined) return { ok: false, error: `"${bad}" is not an IP address (give the node's IPv6 address, or status.hostIPs)` };
  const ipv6 = entries.find((entry) => isIPv6(entry));
  if (ipv6 === undefined) return { ok: true, address: undefined };
  const address = socketForm(ipv6);
  if (!isIPv6(address) || /^fe[89ab]/i.test(address) || address === '::' || address === '::1') {
    return { ok: false, error: `"${ipv6}" is not an address pods can be sent to (link-local, loopback, unspecified or IPv4-mapped)` };
  }
  return { ok: true, address };
}
