import type { FastifyReply } from 'fastify';

/** Every answer of the metadata server is plain text, as real IMDS's are. */
export function sendText(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/plain').send(body);
}

/** A 200 whose body and headers were built once, before any request asked for it. */
export interface PrebuiltText {
  readonly body: string;
  /** Names and values in turn, in the order and case sendText writes them. */
  readonly headers: readonly string[];
}

export function prebuiltText(body: string): PrebuiltText {
  return { body, headers: ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(body))] };
}

/**
 * Sends `answer` as sendText would send a 200 with its body, byte for byte, on the raw response:
 * fastify's send would parse the content type, measure the body and build the header object
 * again for every request. A hijacked reply still runs the onResponse hooks (metrics, the
 * caller guard) when the response finishes.
 */
export function sendPrebuilt(reply: FastifyReply, answer: PrebuiltText): void {
  reply.hijack();
  reply.raw.writeHead(200, answer.headers as string[]);
  reply.raw.end(answer.body);
}
