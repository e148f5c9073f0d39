import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallerAccess, CallerResolver } from '../caller/index.js';
import { CredentialsUnavailableError, type CredentialSource, type Session } from '../credentials/index.js';
import type { Logger, LogThrottle } from '../log/index.js';
import type { RoleRef } from '../policy/index.js';
import { TOKEN_HEADER } from '../imds-protocol/index.js';
import type { TokenIssuer } from '../imds-token/index.js';
import { UpstreamBusyError, UpstreamError, type PassthroughUpstream } from '../node-metadata/index.js';
import type { Clock } from '../time/index.js';
import { callerIp } from './caller-ip.js';
import { credentialDocuments, iamInfoDocument } from './document.js';
import { metadataListings } from './listings.js';
import { imdsError } from './errors.js';
import type { Route } from './route.js';
import { sendPrebuilt, sendText } from './text-reply.js';
import { tokenRoutes } from './token-route.js';
import { IMDS_VERSIONS, isImdsVersion } from './versions.js';

export interface ImdsRoutesOptions {
  resolver: CallerResolver;
  credentials: CredentialSource;
  tokens: TokenIssuer;
  upstream: PassthroughUpstream;
  clock: Clock;
  logger: Logger;
  /** Failed passthrough requests: a pod can cause them at will while the upstream is down. */
  passthroughFailures: LogThrottle;
  requireImdsv2: boolean;
  passthroughPaths: readonly string[];
}

type Allowed = CallerAccess & { decision: { allowed: true } };

const LATEST = '/latest';
const VERSION_LIST = IMDS_VERSIONS.join('\n');

/** The metadata surface pods see (docs/compatibility.md, "Paths"): token, listings, credential list and documents, iam/info, allowlisted passthrough. */
export async function imdsRoutes(app: FastifyInstance, options: ImdsRoutesOptions): Promise<void> {
  await app.register(tokenRoutes, { tokens: options.tokens, resolver: options.resolver });

  // `/latest/...` as static routes (the hot path stays a static match with no version check),
  // every other version real IMDS lists as `/:version/...` behind a check of the version; an
  // unknown version is 404 before the token check, like an unknown path.
  await app.register(metadataRoutes, { ...options, base: LATEST });
  await app.register(async (dated) => {
    dated.addHook('onRequest', (request, reply, done) => {
      done(isImdsVersion((request.params as { version: string }).version) ? undefined : imdsError('NOT_FOUND'));
    });
    await dated.register(metadataRoutes, { ...options, base: '/:version' });
  });

  // Everything else, above all the node's own credentials and user-data, is never proxied. This
  // handler is outside metadataRoutes, so an unknown path gets its 404 (or 405) without a token check.
  app.setNotFoundHandler({}, (request) => {
    throw request.method !== 'GET' && request.method !== 'HEAD' ? imdsError('METHOD_NOT_ALLOWED') : imdsError('NOT_FOUND');
  });
}

/**
 * The GET routes of one version prefix (`base`), behind the IMDSv2 check: listings, credential
 * list and documents, iam/info, allowlisted passthrough. With base /latest also `/`, the version list.
 */
async function metadataRoutes(app: FastifyInstance, options: ImdsRoutesOptions & { base: string }): Promise<void> {
  const { resolver, credentials, tokens, logger, base } = options;
  const CREDENTIALS = `${base}/meta-data/iam/security-credentials`;
  const CREDENTIALS_EXTENDED = `${base}/meta-data/iam/security-credentials-extended`;

  // IMDSv2: a token given must be ours, unexpired and for this IP; a tokenless GET passes unless
  // IMDSv2 is required. Callback style, so the cached credential path makes no promise.
  app.addHook('onRequest', (request, _reply, done) => {
    const token = request.headers[TOKEN_HEADER];
    const refused = token === undefined ? options.requireImdsv2 : typeof token !== 'string' || !tokens.verify(token, callerIp(request));
    done(refused ? imdsError('UNAUTHORIZED') : undefined);
  });

  /** Records the decision; throws 404 with a one-line reason when it is a denial. */
  function allowedOrThrow(access: CallerAccess): Allowed {
    resolver.auditDecision(access);
    if (access.decision.allowed) return access as Allowed;
    throw imdsError('DENIED', access.decision.message);
  }

  /** Resolves the calling pod's access; throws 404 with a one-line reason when it is denied. */
  async function allowedAccess(request: FastifyRequest): Promise<Allowed> {
    const ip = callerIp(request);
    return allowedOrThrow(await resolver.find(ip));
  }

  /**
   * Resolves the caller for what every known pod on this node gets, role or not (listings, the
   * allowlisted passthrough): an IP that is no pod here, or is shared by several, gets 404 with
   * its reason once the pod-lookup wait is over, and its denial is recorded.
   */
  async function knownPod(request: FastifyRequest): Promise<CallerAccess> {
    const ip = callerIp(request);
    const access = await resolver.find(ip);
    if (access.pod !== undefined) return access;
    resolver.auditDecision(access);
    throw access.decision.allowed ? imdsError('NOT_FOUND') : imdsError('DENIED', access.decision.message);
  }

  const listRoles = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = await allowedAccess(request);
    return sendText(reply, 200, access.decision.role.name);
  };

  // The cached path is synchronous (no promise, no extra tick): the pod, its decision, the session
  // and the rendered document are all in memory. Only an IP the watch has not delivered yet and
  // a cache miss (STS) go asynchronous. A handler that has answered returns undefined; a refusal
  // is thrown, for the error handler to answer (errors.ts).
  type DocumentRequest = FastifyRequest<{ Params: { name: string } }>;
  const credentialDocument = (extended: boolean) => (request: DocumentRequest, reply: FastifyReply): Promise<FastifyReply> | undefined => {
    const ip = callerIp(request);
    // The hot path stays synchronous for a pod the index knows; only an IP not seen yet waits.
    const known = resolver.known(ip);
    if (known === undefined) return resolver.find(ip).then((access) => serveDocument(access, ip, request, reply, extended) ?? reply);
    return serveDocument(known, ip, request, reply, extended);
  };

  function serveDocument(
    access: CallerAccess,
    ip: string,
    request: DocumentRequest,
    reply: FastifyReply,
    extended: boolean,
  ): Promise<FastifyReply> | undefined {
    const allowed = allowedOrThrow(access);
    const role = allowed.decision.role;
    if (request.params.name !== role.name) throw imdsError('NOT_FOUND');
    const session = credentials.peek(allowed.sessionKey!);
    if (session === undefined) return assumeAndServe(allowed, ip, reply, extended);
    // One audit line per (pod, session), so CloudTrail's AccessKeyId leads to the pods; a cache hit
    // costs a WeakMap and a Set lookup here.
    resolver.auditHandOut(allowed, session, ip);
    sendDocument(reply, session, role, extended);
    return undefined;
  }

  async function assumeAndServe(access: Allowed, ip: string, reply: FastifyReply, extended: boolean): Promise<FastifyReply> {
    const role = access.decision.role;
    let session: Session;
    try {
      session = await credentials.get(access.sessionKey!);
    } catch (error) {
      if (!(error instanceof CredentialsUnavailableError)) throw error;
      logger.warn({ pod: access.pod?.name, namespace: access.pod?.namespace, role: role.arn, code: error.code, err: error.message }, 'no credentials to serve');
      throw imdsError('CREDENTIALS_UNAVAILABLE', role.name, error.code);
    }
    resolver.auditHandOut(access, session, ip);
    return sendDocument(reply, session, role, extended);
  }

  function sendDocument(reply: FastifyReply, session: Session, role: RoleRef, extended: boolean): FastifyReply {
    // Built once per session (document.ts): a cached answer sends what was rendered when it came.
    const docs = credentialDocuments(session, role);
    sendPrebuilt(reply, extended ? docs.extendedReply : docs.plainReply);
    return reply;
  }

  for (const path of [CREDENTIALS, CREDENTIALS_EXTENDED]) {
    const route: Route = 'credentials-list';
    app.get(path, { config: { route } }, listRoles);
    app.get(`${path}/`, { config: { route } }, listRoles);
    const document = credentialDocument(path === CREDENTIALS_EXTENDED);
    app.get(`${path}/:name`, { config: { route: 'credentials' } }, document);
    app.get(`${path}/:name/`, { config: { route: 'credentials' } }, document);
  }

  const iamInfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = await allowedAccess(request);
    const session = access.sessionKey ? credentials.peek(access.sessionKey) : undefined;
    return sendText(reply, 200, iamInfoDocument(access.decision.role, session?.issuedAt ?? options.clock.now()));
  };
  app.get(`${base}/meta-data/iam/info`, { config: { route: 'info' } }, iamInfo);
  app.get(`${base}/meta-data/iam/info/`, { config: { route: 'info' } }, iamInfo);

  // The allowlisted paths (each `/latest/...`), with and without a trailing slash and under every
  // version prefix; the upstream is always asked the fixed allowlisted path, never the request's.
  const passthrough = [...new Set(options.passthroughPaths.map((path) => path.replace(/\/+$/, '')))];
  for (const path of passthrough) {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      await knownPod(request);
      try {
        const answer = await options.upstream.get(path);
        return reply.code(answer.status).type(answer.contentType ?? 'text/plain').send(answer.body);
      } catch (error) {
        // Refused at once by the upstream's bounded queue: a flood, so it is not worth a log line each.
        if (error instanceof UpstreamBusyError) throw error;
        options.passthroughFailures.note(path, { path, err: (error as Error).message }, 'metadata passthrough failed');
        // Whatever failed, the pod is told the upstream did (502), never what it said.
        throw error instanceof UpstreamError ? error : new UpstreamError((error as Error).message);
      }
    };
    const below = `${base}${path.slice(LATEST.length)}`;
    app.get(below, { config: { route: 'passthrough' } }, handler);
    app.get(`${below}/`, { config: { route: 'passthrough' } }, handler);
  }

  // Listings of what this pod gets: its iam/ entries only with a role, and the passthrough paths.
  for (const listing of metadataListings(passthrough.map((path) => path.slice(LATEST.length + 1)))) {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const { decision } = await knownPod(request);
      const text = decision.allowed ? listing.withRole : listing.withoutRole;
      if (text !== undefined) return sendText(reply, 200, text);
      // Empty only for want of a role (iam/): the pod reads why, as on the credential paths.
      throw decision.allowed ? imdsError('NOT_FOUND') : imdsError('DENIED', decision.message);
    };
    const path = `${base}/${listing.dir}`;
    app.get(path, { config: { route: 'listing' } }, handler);
    app.get(path.slice(0, -1), { config: { route: 'listing' } }, handler);
  }

  // The version list answers every caller: it says nothing about the node or the pod.
  if (base === LATEST) app.get('/', { config: { route: 'listing' } }, async (_request, reply) => sendText(reply, 200, VERSION_LIST));
}
