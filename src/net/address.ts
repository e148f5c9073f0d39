import { SocketAddress, isIPv4, isIPv6 } from 'node:net';

/** A TCP peer as corridor names it: IPv4-mapped IPv6 addresses are the IPv4 caller. */
export function peerAddress(address: string | undefined): string {
  const text = address ?? '';
  return text.startsWith('::ffff:') && isIPv4(text.slice(7)) ? text.slice(7) : text;
}

/**
 * An address as a socket's remoteAddress prints it, so a caller compares equal as text: IPv6 in
 * lower case and compressed (`FD00:10:0::5` -> `fd00:10::5`, the same inet_ntop both go through).
 */
export function socketForm(ip: string): string {
  const peer = peerAddress(ip);
  return isIPv6(peer) ? new SocketAddress({ address: peer, family: 'ipv6' }).address : peer;
}

/**
 * What `localhost` is on the node: kubectl port-forward and `kubectl exec ... curl localhost`
 * arrive from here, never a pod (pods have addresses of their own).
 */
export function isLocalhost(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1';
}
