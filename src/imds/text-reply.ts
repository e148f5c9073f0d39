import type { FastifyReply } from 'fastify';

/** Every answer of the metadata server is plain text, as real IMDS's are. */
export function sendText(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/plain').send(body);
}
