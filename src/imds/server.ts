import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { CallerResolver } from '../caller/index.js';
import type { CredentialSource } from '../credentials/index.js';
import type { Logger } from '../log/index.js';
import type { CounterHandle, HistogramHandle, Metrics } from '../metrics/index.js';
import type { Clock, Scheduler } from '../time/index.js';
import { appLogThrottle, createCallerGuard, exposedServerOptions, guardServer, recordRefusals } from '../guard/index.js';
import { createTokenIssuer, type TokenKeyRing } from '../imds-token/index.js';
import { DEFAULT_CONNECTION_BUDGET } from '../net/index.js';
import { createMetadataUpstream, type PassthroughUpstream } from '../node-metadata/index.js';
import { answerError, IMDS_ERRORS } from './errors.js';
import type { Route } from './route.js';
import { imdsRoutes } from './routes.js';

export interface ImdsServerDeps {
  resolver: CallerResolver;
  credentials: CredentialSource;
  clock: Clock;
  scheduler: Scheduler;
  /** Connections from pods in all (net/open-files.ts sizes it under the open-file limit). */
  maxConnections?: number;
  /** Connections from callers that are no pod of this node, in all. */
  maxStrangerConnections?: number;
  metrics: Metrics;
  logger: Logger;
  /** The real IMDS for allowlisted paths; built from options.imdsUpstream when absent. */
  upstream?: PassthroughUpstream;
  /** Signs IMDSv2 tokens: the node's key store (main), a fixed secret, or a random one when absent. */
  tokenKeys?: Buffer | TokenKeyRing;
}

export interface ImdsServerOptions {
  requireImdsv2: boolean;
  passthroughPaths: readonly string[];
  /** Base URL of the node's own IMDS. */
  imdsUpstream: string;
  /** Requests per second per caller; 0 turns the limit off. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
}

// An SDK keeps one or two connections; a Spark executor with many threads a few dozen.
const MAX_CONNECTIONS_PER_CALLER = 256;
// A caller that is no pod of this node has no business on this port (pods reach it through the
// DNAT rule); it may be one the watch has not delivered yet, so it gets a little, apart from pods.
const MAX_CONNECTIONS_PER_STRANGER = 16;
// Requests one pod may have waiting at once (a cache miss, a pod-start wait, a passthrough): a
// Spark executor's threads asking together on a cold start; far more is a pod holding our memory.
const MAX_IN_FLIGHT_PER_CALLER = 64;

/** The metadata server pods reach through the DNAT rule: its limits, hooks and routes, not listening. */
export async function buildImdsServer(deps: ImdsServerDeps, options: ImdsServerOptions): Promise<FastifyInstance> {
  const { metrics, clock } = deps;
  const logger = deps.logger.child({ component: 'imds' });
  const imds = Fastify({
    loggerInstance: childOnce(logger),
    logController: new LogController({ disableRequestLogging: true }),
    ...exposedServerOptions,
    // A request on a connection accepted before close() is answered, not 503: in a handover the
    // successor already takes every new connection, and this one was a pod's call like any other.
    return503OnClosing: false,
    // A client whose endpoint ends in a slash asks `//latest/...`; EC2 treats a run of slashes as
    // one. Only literal slashes collapse (an encoded %2F is never a separator), before any route,
    // token check or allowlist match, so a collapsed path meets exactly the rules its single-slash
    // form does: nothing reaches a path the allowlist refuses.
    routerOptions: { ignoreDuplicateSlashes: true },
  });
  recordRequestMetrics(imds, metrics);
  const refusals = appLogThrottle(imds, logger.child({ component: 'guard' }), deps.scheduler);
  const guard = createCallerGuard({
    perSecond: options.rateLimitPerSecond,
    burst: options.rateLimitBurst,
    maxConnectionsPerCaller: MAX_CONNECTIONS_PER_CALLER,
    maxInFlightPerCaller: MAX_IN_FLIGHT_PER_CALLER,
    maxConnections: deps.maxConnections ?? DEFAULT_CONNECTION_BUDGET.imds,
    strangers: {
      is: (ip) => deps.resolver.known(ip) === undefined,
      maxConnectionsPerCaller: MAX_CONNECTIONS_PER_STRANGER,
      maxConnections: deps.maxStrangerConnections ?? DEFAULT_CONNECTION_BUDGET.imdsStrangers,
    },
    onRefused: recordRefusals('imds', metrics, refusals),
    clock,
    scheduler: deps.scheduler,
  });
  guardServer(imds, guard, IMDS_ERRORS.TOO_MANY_REQUESTS.text);
  // Routes throw coded errors (errors.ts); this one handler answers them and everything else.
  imds.setErrorHandler(answerError);
  await imds.register(imdsRoutes, {
    passthroughFailures: appLogThrottle(imds, logger, deps.scheduler),
    resolver: deps.resolver,
    credentials: deps.credentials,
    tokens: createTokenIssuer(clock, deps.tokenKeys),
    upstream: deps.upstream ?? createMetadataUpstream({ baseUrl: options.imdsUpstream, clock, timeoutMs: 1000 }),
    clock,
    logger,
    requireImdsv2: options.requireImdsv2,
    passthroughPaths: options.passthroughPaths,
  });
  return imds;
}

/**
 * No pino child per request (with redaction it costs more than the rest of a cached answer), and no
 * custom childLoggerFactory either: fastify checks a custom factory's child on every request (about
 * 230 bytes allocated). The child fastify makes once, its own logger with its serializers, is a real
 * pino child whose child() is itself: request.log is that logger, and an error line names the request id.
 */
function childOnce(logger: Logger): FastifyBaseLogger {
  const parent = Object.create(logger) as FastifyBaseLogger;
  parent.child = (bindings, options) => {
    const own = Object.create(logger.child(bindings, options)) as FastifyBaseLogger;
    own.child = () => own;
    return own;
  };
  return parent;
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
