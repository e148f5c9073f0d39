import http from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Every text the metadata server answers a pod with when it does not serve data. SDKs, scripts
 * and people read these, so they change only on purpose: here, in one place.
 */
export const replies = {
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  notFound: 'Not Found',
  methodNotAllowed: 'Method Not Allowed',
  tooManyRequests: 'Too Many Requests',
  internalServerError: 'Internal Server Error',
  badTokenTtl: 'Bad Request: x-aws-ec2-metadata-token-ttl-seconds must be 1-21600',
  upstreamFailed: 'Bad Gateway: the instance metadata service did not answer',
  upstreamBusy: 'Service Unavailable: the instance metadata service is busy, try again in a second',
  /** A denied pod: the one-line reason, never other namespaces' roles. */
  denied: (reason: string) => `Not Found: ${reason}`,
  credentialsUnavailable: (roleName: string, code: string) => `Service Unavailable: credentials for role ${roleName} are not available (${code})`,
  /** Fastify's own client errors (bad content type, body too large): the status line's text. */
  clientError: (status: number) => http.STATUS_CODES[status] ?? 'Bad Request',
} as const;

export function sendText(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/plain').send(body);
}
