import type { Logger } from '../../log/index.js';
import { resolveKubeConnection, type KubeConnectionSources } from './connection.js';
import { createHttpTransport, type HttpTransportOptions } from './http-transport.js';
import type { KubeTransport } from './transport-types.js';

export interface OpenKubeTransportOptions extends HttpTransportOptions {
  logger: Logger;
  sources?: KubeConnectionSources;
}

/**
 * The transport for a kubeconfig path (or in-cluster, or the defaults; see resolveKubeConnection):
 * the thin node:http one, unless the kubeconfig user authenticates in a way only client-node
 * implements; only then is client-node imported, and its memory paid for.
 */
export async function openKubeTransport(path: string | undefined, options: OpenKubeTransportOptions): Promise<KubeTransport> {
  const { logger, sources, ...httpOptions } = options;
  const connection = await resolveKubeConnection(path, sources);
  if (connection.needsClientNode === undefined) {
    logger.debug({ server: connection.server, source: connection.source }, 'kubernetes API connection');
    return createHttpTransport(connection, httpOptions);
  }
  logger.info(
    { server: connection.server, source: connection.source, reason: connection.needsClientNode },
    'the kubeconfig user needs @kubernetes/client-node; loading it (about 90 MB more memory)',
  );
  const { createClientNodeTransport, loadKubeConfig } = await import('./client-node.js');
  return createClientNodeTransport(loadKubeConfig(path, sources), { requestTimeoutMs: httpOptions.requestTimeoutMs, scheduler: httpOptions.scheduler });
}
