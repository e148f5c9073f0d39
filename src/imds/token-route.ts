import type { FastifyInstance } from 'fastify';
import type { CallerResolver } from '../caller/index.js';
import { callerIp } from './caller-ip.js';
import { TOKEN_PATH, TOKEN_TTL_HEADER } from '../imds-protocol/index.js';
import { parseTokenTtl, type TokenIssuer } from '../imds-token/index.js';
import { imdsError } from './errors.js';
import { sendText } from './text-reply.js';

/**
 * How long a token request from an IP the watch has not delivered yet waits for its pod. Such a
 * request is usually a pod's first call racing its kubelet's status report (which a busy kubelet
 * sends seconds late). SDKs give each metadata request a budget of its own, 1 s in botocore and
 * the JavaScript SDKs: answering the token once the pod is known, and inside that budget, gives
 * the role listing that follows a full second of its own instead of what is left of one.
 */
const TOKEN_WAITS_FOR_POD_MS = 800;

/**
 * `PUT /latest/api/token`, answered only by its method, the TTL header and X-Forwarded-For, as
 * real IMDS does: any content type, any or no body, chunked or not. A 400 for anything but the
 * TTL would stop SDKs (they fall back to IMDSv1 on 403/404/405 but give up on 400), and
 * `curl -X PUT -d ''` sends a form content type. A body is read up to the server's body limit and
 * dropped; a larger one gets 413.
 */
export async function tokenRoutes(app: FastifyInstance, options: { tokens: TokenIssuer; resolver: Pick<CallerResolver, 'seen'> }): Promise<void> {
  const { tokens, resolver } = options;
  // Fastify answers a malformed Content-Type with 415 before any parser runs: the token path
  // never reads the content type, so it is dropped here, and every body meets the catch-all below.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.headers['content-type'] !== undefined) delete request.headers['content-type'];
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

  app.put(TOKEN_PATH, { config: { route: 'token' } }, async (request, reply) => {
    if (request.headers['x-forwarded-for'] !== undefined) throw imdsError('FORWARDED_TOKEN_REQUEST');
    const ttl = parseTokenTtl(request.headers[TOKEN_TTL_HEADER]);
    if (ttl === undefined) throw imdsError('BAD_TOKEN_TTL');
    const ip = callerIp(request);
    const seen = resolver.seen(ip, TOKEN_WAITS_FOR_POD_MS);
    if (seen !== undefined) await seen;
    reply.header(TOKEN_TTL_HEADER, String(ttl));
    return sendText(reply, 200, tokens.mint(ip, ttl));
  });

  // Only PUT mints tokens; any other method on the token path is 405, as on real IMDS.
  app.route({
    method: ['GET', 'POST', 'DELETE', 'PATCH'],
    url: TOKEN_PATH,
    config: { route: 'token' },
    handler: async () => {
      throw imdsError('METHOD_NOT_ALLOWED');
    },
  });
}
