import type { FastifyRequest } from 'fastify';

/** The caller is the TCP peer; IPv4-mapped IPv6 addresses are reduced to their IPv4 form. */
export function callerIp(request: FastifyRequest): string {
  const address = request.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
