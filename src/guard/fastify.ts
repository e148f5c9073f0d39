import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { createLogThrottle, type Logger, type LogThrottle } from '../log/index.js';
import type { Scheduler } from '../time/index.js';
import { peerAddress } from '../net/index.js';
import type { CallerGuard } from './caller-guard.js';

// Small limits: metadata, probe and scrape requests are tiny, so anything large or slow is a
// misbehaving client. Node checks request and header timeouts only every
// connectionsCheckingInterval (30 s by default), and applies headersTimeout from the moment a
// connection opens, so one that never sends a byte is closed too.
const MAX_HEADER_BYTES = 8 * 1024;

type SchemaCompilers = Required<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>>;

// fastify builds its JSON Schema compilers (ajv and fast-json-stringify, about 2 MB of RSS per
// process) when an instance is created, though only routes with schemas use them, and corridor's
// routes have none: they are loaded, from fastify's own dependencies, the first time one is needed.
// Each is made once, as fastify's own default is, so its cache of compiled schemas is kept. In the
// bundle (npm run bundle) no node_modules lies beside corridor to load them from: there fastify
// keeps its default, the compilers bundled with it.
let fastifyRequire: NodeJS.Require | null | undefined;
function requireBesideFastify(): NodeJS.Require | null {
  if (fastifyRequire === undefined) {
    try {
      fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
    } catch {
      fastifyRequire = null;
    }
  }
  return fastifyRequire;
}
let validatorSelector: SchemaCompilers['buildValidator'] | undefined;
let serializerSelector: SchemaCompilers['buildSerializer'] | undefined;
const lazySchemaCompilers = (load: NodeJS.Require): SchemaCompilers => ({
  buildValidator: (...args) => (validatorSelector ??= (load('@fastify/ajv-compiler') as () => SchemaCompilers['buildValidator'])())(...args),
  buildSerializer: (...args) =>
    (serializerSelector ??= (load('@fastify/fast-json-stringify-compiler') as () => SchemaCompilers['buildSerializer'])())(...args),
});

/** Fastify options both servers every pod can reach share: no proxy trust, small sizes, short timeouts. */
export const exposedServerOptions = {
  // A getter: decided when a server is made (the options are spread), not when this file loads.
  get schemaController() {
    const load = requireBesideFastify();
    return load === null ? undefined : { compilersFactory: lazySchemaCompilers(load) };
  },
  trustProxy: false,
  bodyLimit: 1024,
  connectionTimeout: 10_000,
  requestTimeout: 5_000,
  keepAliveTimeout: 5_000,
  http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 5_000, connectionsCheckingInterval: 1_000 },
  return503OnClosing: true,
} as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** Counted in flight by the caller guard until answered. */
    admitted: boolean;
  }
}

/**
 * Puts `guard` in front of every route of `app`. Over its budget, a caller gets 429 (as real IMDS
 * answers when throttling) with Connection: close, before any lookup, and the guard holds its
 * other connections unread.
 */
export function guardServer(app: FastifyInstance, guard: CallerGuard, tooManyRequests: string): void {
  guard.attach(app.server);
  app.decorateRequest('admitted', false);
  // Callback style: an async hook costs every request a promise and a tick.
  app.addHook('onRequest', (request, reply, done) => {
    const admission = guard.admit(peerAddress(request.socket.remoteAddress), request.socket);
    if (admission === 'serve') {
      request.admitted = true;
      done();
    } else if (admission === 'drop') reply.hijack();
    else reply.code(429).header('retry-after', '1').header('connection', 'close').type('text/plain').send(tooManyRequests);
  });
  app.addHook('onResponse', (request, _reply, done) => {
    if (request.admitted) guard.finished(peerAddress(request.socket.remoteAddress), request.socket);
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    guard.close();
    done();
  });
}

/** A log throttle (log/throttle.ts) that lives as long as `app`: its summary timers stop when the app closes. */
export function appLogThrottle(app: FastifyInstance, logger: Logger, scheduler: Scheduler): LogThrottle {
  const throttle = createLogThrottle({ logger, level: 'warn', scheduler });
  app.addHook('onClose', (_instance, done) => {
    throttle.close();
    done();
  });
  return throttle;
}
