import type { FastifyRequest } from 'fastify';
import { peerAddress } from '../net/index.js';

/** The caller is the TCP peer, never a header; IPv4-mapped IPv6 addresses are the IPv4 caller. */
export function callerIp(request: FastifyRequest): string {
  return peerAddress(request.socket.remoteAddress);
}
