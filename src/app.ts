import http from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createAccessResolver, type AccessResolver } from './access/index.js';
import { adminRoutes } from './admin/index.js';
import type { AgentConfig } from './config/index.js';
import type { CredentialSource, SessionKey } from './credentials/index.js';
import {
  callerIp,
  createMetadataUpstream,
  createRateLimiter,
  createTokenIssuer,
  imdsRoutes,
  limitConnectionsPerCaller,
  type MetadataUpstream,
  type RateLimiter,
  type TokenKeyRing,
} from './imds/index.js';
import type { PodDirectory } from './kube/index.js';
import type { Logger } from './log/index.js';
import type { CounterHandle, HistogramHandle, Metrics, Route } from './metrics/index.js';
import type { Clock } from './time/index.js';

export interface AppDeps {
  directory: PodDirectory;
  /** The session cache; `updateGauges` (when present) runs before each /metrics scrape. */
  credentials: CredentialSource & { updateGauges?(): void };
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** The real IMDS for allowlisted paths; built from config.imdsUpstream when absent. */
  upstream?: MetadataUpstream;
  /** The token signing key(s): the node's key store (main), a fixed secret, or absent: a random one. */
  tokenSecret?: Buffer | TokenKeyRing;
}

export type AppConfig = Pick<
  AgentConfig,
  | 'annotations'
  | 'baseRoleArn'
  | 'serviceAccountRoles'
  | 'podLookupTimeoutMs'
  | 'requireImdsv2'
  | 'passthroughPaths'
  | 'imdsUpstream'
  | 'rateLimitPerSecond'
  | 'rateLimitBurst'
>;

export interface App {
  imds: FastifyInstance;
  admin: FastifyInstance;
  resolver: AccessResolver;
}

// Small limits: SDK requests are tiny, so anything large or slow is a misbehaving client.
const MAX_HEADER_BYTES = 8 * 1024;
// An SDK keeps one or two connections; a Spark executor with many threads a few dozen.
const MAX_CONNECTIONS_PER_CALLER = 256;

/** Builds the metadata and admin servers with their dependencies wired, without listening. */
export async function buildApp(deps: AppDeps, config: AppConfig): Promise<App> {
  const { directory, credentials, metrics, logger } = deps;
  const resolver = createAccessResolver({
    directory,
    policy: { annotations: config.annotations, baseRoleArn: config.baseRoleArn, serviceAccountRoles: config.serviceAccountRoles },
    podLookupTimeoutMs: config.podLookupTimeoutMs,
    metrics,
    logger,
  });
  wirePrefetch(directory, resolver, credentials);

  const imds = Fastify({
    loggerInstance: logger.child({ component: 'imds' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child per request (with redaction it costs more than the rest of a cached answer):
    // request.log is the component logger, and the one line logged per request, below, names the request id.
    childLoggerFactory: (componentLogger) => componentLogger,
    trustProxy: false,
    bodyLimit: 1024,
    connectionTimeout: 10_000,
    requestTimeout: 5_000,
    keepAliveTimeout: 5_000,
    // Node checks request and header timeouts only every connectionsCheckingInterval (30 s by default).
    http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 5_000, connectionsCheckingInterval: 1_000 },
    return503OnClosing: true,
  });
  limitConnectionsPerCaller(imds.server, MAX_CONNECTIONS_PER_CALLER);
  recordRequestMetrics(imds, metrics);
  if (config.rateLimitPerSecond > 0) {
    limitRequestRate(imds, createRateLimiter({ perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst, clock: deps.clock }));
  }
  imds.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    // Fastify's own client errors (bad content type, body too large) keep their 4xx code.
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).type('text/plain').send(`${http.STATUS_CODES[error.statusCode] ?? 'Bad Request'}`);
    }
    request.log.error({ reqId: request.id, err: error, url: request.url }, 'metadata request failed');
    return reply.code(500).type('text/plain').send('Internal Server Error');
  });
  await imds.register(imdsRoutes, {
    resolver,
    credentials,
    tokens: createTokenIssuer(deps.clock, deps.tokenSecret),
    upstream: deps.upstream ?? createMetadataUpstream({ baseUrl: config.imdsUpstream, clock: deps.clock, timeoutMs: 1000 }),
    clock: deps.clock,
    logger: logger.child({ component: 'imds' }),
    requireImdsv2: config.requireImdsv2,
    passthroughPaths: config.passthroughPaths,
  });

  const admin = Fastify({ loggerInstance: logger.child({ component: 'admin' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  await admin.register(adminRoutes, { directory, resolver, credentials, metrics, beforeScrape: () => credentials.updateGauges?.() });
  return { imds, admin, resolver };
}

function recordRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  // Handles per route and status code, made on first use: the per-request work is two map reads
  // and three additions (see metrics/deferred.ts).
  const byRoute = new Map<Route, { duration: HistogramHandle; byCode: Map<number, CounterHandle> }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route: Route = request.routeOptions.config.route ?? 'other';
    let handles = byRoute.get(route);
    if (handles === undefined) byRoute.set(route, (handles = { duration: metrics.requestDuration.handle({ route }), byCode: new Map() }));
    const code = reply.statusCode;
    let count = handles.byCode.get(code);
    if (count === undefined) handles.byCode.set(code, (count = metrics.handle(metrics.requests, { route, code: String(code) })));
    count.inc();
    handles.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}

/** Over its budget, a caller gets 429 as real IMDS answers when throttling, before any lookup. */
function limitRequestRate(app: FastifyInstance, limiter: RateLimiter): void {
  // Callback style: an async hook costs every request a promise and a tick.
  app.addHook('onRequest', (request, reply, done) => {
    if (!limiter.take(callerIp(request))) {
      reply.code(429).header('retry-after', '1').type('text/plain').send('Too Many Requests');
      return;
    }
    done();
  });
}

/** Pods that appear get their session assumed in the background; sessions no pod uses are dropped. */
function wirePrefetch(directory: PodDirectory, resolver: AccessResolver, credentials: CredentialSource): void {
  directory.onChange((changed) => {
    for (const pod of changed) {
      const access = resolver.forPod(pod);
      if (access.sessionKey) credentials.prefetch(access.sessionKey);
    }
    const inUse: SessionKey[] = [];
    for (const pod of directory.pods()) {
      const key = resolver.forPod(pod).sessionKey;
      if (key) inUse.push(key);
    }
    credentials.retain(inUse);
  });
}
