import type { Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeKubeApi } from './fake-kube-api.js';

export interface ApiFrontOptions {
  /**
   * `kubectl proxy`: the front authenticates to the API server itself, and its kubeconfig carries
   * no credentials. Otherwise the client's own token passes through.
   */
  injectToken?: boolean;
  /**
   * Answers the API server's pod proxy, GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}:
   * a text (200), or undefined for 403 (a user without get on pods/proxy); a promise of either
   * answers when it settles (a pod that does not answer).
   */
  podProxy?: (request: { namespace: string; pod: string; port: string; path: string }) => string | undefined | Promise<string | undefined>;
}

// client-node sends the pod's name and port as `name%3Aport`, as the API server also accepts.
const POD_PROXY = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:%]+)(?::|%3A)(\d+)\/proxy\/(.*)$/i;

/**
 * A plain-HTTP server on loopback in front of the API stand-in: what `kubectl proxy` is to a
 * person's tools (with `injectToken`), and the API server's pod proxy the stand-in lacks (with
 * `podProxy`). Everything else is forwarded as it is. Its kubeconfig: `server:
 * http://127.0.0.1:<port>`, no TLS settings, the stand-in's token unless the front injects it.
 */
export async function apiFront(t: Test, api: FakeKubeApi, options: ApiFrontOptions = {}): Promise<{ kubeConfigText: string; requests: () => number }> {
  let requests = 0;
  const target = new URL(api.url);
  const answerPodProxy = async (response: http.ServerResponse, proxied: RegExpExecArray) => {
    const [, namespace, pod, port, path] = proxied as unknown as [string, string, string, string, string];
    const text = await options.podProxy!({ namespace, pod, port, path });
    if (text === undefined) {
      const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: `pods "${pod}:${port}" is forbidden: cannot get resource "pods/proxy"` };
      response.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify(status));
    } else {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
    }
  };
  const server = http.createServer((request, response) => {
    requests++;
    const proxied = options.podProxy && POD_PROXY.exec(request.url ?? '');
    if (proxied) {
      // A podProxy that throws answers 500, which the test sees, rather than an unhandled rejection.
      answerPodProxy(response, proxied).catch((error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)));
      return;
    }
    const headers = { ...request.headers, host: target.host, ...(options.injectToken ? { authorization: `Bearer ${api.token}` } : {}) };
    const upstream = http.request({ hostname: target.hostname, port: target.port, path: request.url, method: request.method, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  return {
    kubeConfigText: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'front', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'front', user: options.injectToken ? {} : { token: api.token } }],
      contexts: [{ name: 'front', context: { cluster: 'front', user: 'front' } }],
      'current-context': 'front',
    }),
    requests: () => requests,
  };
}
