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

/** 127.0.0.0/8 and ::1: the node itself (kubectl port-forward and exec arrive here), never a pod. */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || (isIPv4(ip) && ip.startsWith('127.'));
}
