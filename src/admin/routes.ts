import type { FastifyInstance } from 'fastify';
import type { CallerResolver } from '../caller/index.js';
import type { CredentialMode, CredentialSource } from '../credentials/index.js';
import type { PodDirectory } from '../kube/index.js';
import type { Metrics } from '../metrics/index.js';
import { isLocalhost, peerAddress, socketForm } from '../net/index.js';
import { explainAccess } from './explain.js';

export interface AdminRoutesOptions {
  directory: PodDirectory;
  resolver: CallerResolver;
  credentials: CredentialSource;
  /** Shown by explain; in web-identity mode explain names the ServiceAccount the role must trust. Default node-role. */
  credentialMode?: CredentialMode;
  metrics: Metrics;
}

/** /metrics, /healthz, /readyz for anyone (the kubelet, Prometheus); /debug/explain?ip= for the node and a pod about itself. */
export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const { directory, resolver, credentials, metrics } = options;

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok'));

  app.get('/readyz', async (_request, reply) => {
    const ready = directory.isReady();
    return reply.code(ready ? 200 : 503).type('text/plain').send(ready ? 'ready' : 'not ready: waiting for the first list of pods and namespaces');
  });

  app.get<{ Querystring: { ip?: string } }>('/debug/explain', async (request, reply) => {
    const ip = request.query.ip;
    if (typeof ip !== 'string' || !/^[0-9a-fA-F.:]{2,45}$/.test(ip)) {
      return reply.code(400).send({ error: 'give the pod IP as ?ip=10.0.0.7' });
    }
    // A directory of other namespaces' pods and roles is not for pods: the node's admin (loopback:
    // kubectl port-forward or exec) asks about anyone, a pod only about itself.
    const caller = peerAddress(request.socket.remoteAddress);
    const audience = isLocalhost(caller) ? 'admin' : caller === socketForm(ip) ? 'self' : undefined;
    if (audience === undefined) {
      return reply.code(403).send({ error: 'explain answers the node (kubectl port-forward or exec) about any pod, and a pod only about its own IP' });
    }
    const access = await resolver.find(ip);
    return reply.send(explainAccess(access, credentials, audience, options.credentialMode));
  });
}
