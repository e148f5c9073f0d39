import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallerAccess, CallerResolver } from '../caller/index.js';
import { CredentialsUnavailableError, type CredentialSource, type Session } from '../credentials/index.js';
import type { Logger } from '../log/index.js';
import type { RoleRef } from '../policy/index.js';
import type { Clock } from '../time/index.js';
import { callerIp } from './caller-ip.js';
import { credentialDocuments, iamInfoDocument } from './document.js';
import { replies, sendText } from './replies.js';
import type { Route } from './route.js';
import { parseTokenTtl, type TokenIssuer } from './token.js';
import type { MetadataUpstream } from './upstream.js';

export interface ImdsRoutesOptions {
  resolver: CallerResolver;
  credentials: CredentialSource;
  tokens: TokenIssuer;
  upstream: MetadataUpstream;
  clock: Clock;
  logger: Logger;
  requireImdsv2: boolean;
  passthroughPaths: readonly string[];
}

type Allowed = CallerAccess & { decision: { allowed: true } };

const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const CREDENTIALS = '/latest/meta-data/iam/security-credentials';
const CREDENTIALS_EXTENDED = '/latest/meta-data/iam/security-credentials-extended';

/** The metadata surface of DESIGN.md: token, credential list and documents, iam/info, allowlisted passthrough. */
export async function imdsRoutes(app: FastifyInstance, options: ImdsRoutesOptions): Promise<void> {
  const { tokens } = options;

  app.put('/latest/api/token', { config: { route: 'token' } }, async (request, reply) => {
    if (request.headers['x-forwarded-for'] !== undefined) return sendText(reply, 403, replies.forbidden);
    const ttl = parseTokenTtl(request.headers[TTL_HEADER]);
    if (ttl === undefined) return sendText(reply, 400, replies.badTokenTtl);
    reply.header(TTL_HEADER, String(ttl));
    return sendText(reply, 200, tokens.mint(callerIp(request), ttl));
  });

  // Only PUT mints tokens; any other method on the token path is 405, as on real IMDS.
  app.route({ method: ['GET', 'POST', 'DELETE', 'PATCH'], url: '/latest/api/token', config: { route: 'token' }, handler: async (_request, reply) => sendText(reply, 405, replies.methodNotAllowed) });

  await app.register(metadataRoutes, options);

  // Everything else, above all the node's own credentials and user-data, is never proxied. This
  // handler is outside metadataRoutes, so an unknown path gets its 404 (or 405) without a token check.
  app.setNotFoundHandler({}, (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendText(reply, 405, replies.methodNotAllowed);
    return sendText(reply, 404, replies.notFound);
  });
}

/** The GET routes behind the IMDSv2 check: credential list and documents, iam/info, allowlisted passthrough. */
async function metadataRoutes(app: FastifyInstance, options: ImdsRoutesOptions): Promise<void> {
  const { resolver, credentials, tokens, logger } = options;

  // IMDSv2: a token given must be ours, unexpired and for this IP; a tokenless GET passes unless
  // IMDSv2 is required. Callback style, so the cached credential path makes no promise.
  app.addHook('onRequest', (request, reply, done) => {
    const token = request.headers[TOKEN_HEADER];
    if (token === undefined ? options.requireImdsv2 : typeof token !== 'string' || !tokens.verify(token, callerIp(request))) {
      sendText(reply, 401, replies.unauthorized);
      return;
    }
    done();
  });

  /** Records the decision; answers 404 with a one-line reason when it is a denial. */
  function allowedOrAnswered(access: CallerAccess, reply: FastifyReply): Allowed | undefined {
    resolver.record(access);
    if (access.decision.allowed) return access as Allowed;
    sendText(reply, 404, replies.denied(access.decision.message));
    return undefined;
  }

  /** Resolves the calling pod's access; answers 404 with a one-line reason when it is denied. */
  async function allowedAccess(request: FastifyRequest, reply: FastifyReply): Promise<Allowed | undefined> {
    const ip = callerIp(request);
    return allowedOrAnswered(resolver.now(ip) ?? (await resolver.wait(ip)), reply);
  }

  const listRoles = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = await allowedAccess(request, reply);
    if (access === undefined) return reply;
    return sendText(reply, 200, access.decision.role.name);
  };

  // The cached path is synchronous (no promise, no extra tick): the pod, its decision, the session
  // and the rendered document are all in memory. Only an IP the watch has not delivered yet and
  // a cache miss (STS) go asynchronous. A handler that has answered returns undefined.
  const credentialDocument = (extended: boolean) => (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply): Promise<FastifyReply> | undefined => {
    const ip = callerIp(request);
    const known = resolver.now(ip);
    if (known === undefined) return resolver.wait(ip).then((access) => serveDocument(access, request, reply, extended) ?? reply);
    return serveDocument(known, request, reply, extended);
  };

  function serveDocument(access: CallerAccess, request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply, extended: boolean): Promise<FastifyReply> | undefined {
    const allowed = allowedOrAnswered(access, reply);
    if (allowed === undefined) return undefined;
    const role = allowed.decision.role;
    if (request.params.name !== role.name) {
      sendText(reply, 404, replies.notFound);
      return undefined;
    }
    const session = credentials.peek(allowed.sessionKey!);
    if (session === undefined) return assumeAndServe(allowed, reply, extended);
    sendDocument(reply, session, role, extended);
    return undefined;
  }

  async function assumeAndServe(access: Allowed, reply: FastifyReply, extended: boolean): Promise<FastifyReply> {
    const role = access.decision.role;
    let session: Session;
    try {
      session = await credentials.get(access.sessionKey!);
    } catch (error) {
      if (!(error instanceof CredentialsUnavailableError)) throw error;
      logger.warn({ pod: access.pod?.name, namespace: access.pod?.namespace, role: role.arn, code: error.code, err: error.message }, 'no credentials to serve');
      return sendText(reply, 503, replies.credentialsUnavailable(role.name, error.code));
    }
    return sendDocument(reply, session, role, extended);
  }

  function sendDocument(reply: FastifyReply, session: Session, role: RoleRef, extended: boolean): FastifyReply {
    const docs = credentialDocuments(session, role);
    return reply.code(200).type('text/plain').send(extended ? docs.extended : docs.plain);
  }

  for (const base of [CREDENTIALS, CREDENTIALS_EXTENDED]) {
    const route: Route = 'credentials-list';
    app.get(base, { config: { route } }, listRoles);
    app.get(`${base}/`, { config: { route } }, listRoles);
    app.get(`${base}/:name`, { config: { route: 'credentials' } }, credentialDocument(base === CREDENTIALS_EXTENDED));
  }

  const iamInfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = await allowedAccess(request, reply);
    if (access === undefined) return reply;
    const session = access.sessionKey ? credentials.peek(access.sessionKey) : undefined;
    return sendText(reply, 200, iamInfoDocument(access.decision.role, session?.issuedAt ?? options.clock.now()));
  };
  app.get('/latest/meta-data/iam/info', { config: { route: 'info' } }, iamInfo);
  app.get('/latest/meta-data/iam/info/', { config: { route: 'info' } }, iamInfo);

  for (const path of new Set(options.passthroughPaths)) {
    app.get(path, { config: { route: 'passthrough' } }, async (_request, reply) => {
      try {
        const answer = await options.upstream.get(path);
        return reply.code(answer.status).type(answer.contentType ?? 'text/plain').send(answer.body);
      } catch (error) {
        logger.warn({ path, err: (error as Error).message }, 'metadata passthrough failed');
        return sendText(reply, 502, replies.upstreamFailed);
      }
    });
  }
}
