/** Which part of the metadata surface answered: the `route` label of the request metrics. */
export type Route =
  | 'token'
  | 'credentials-list'
  | 'credentials'
  | 'info'
  | 'passthrough'
  | 'listing'
  | 'other';

declare module 'fastify' {
  interface FastifyContextConfig {
    route?: Route;
  }
}
