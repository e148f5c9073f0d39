import type { Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeKubeApi } from './fake-kube-api.js';

/**
 * What `kubectl proxy` is to a person's tools: a plain-HTTP server on loopback that forwards every
 * request to the API server with the proxy's own credentials, and the kubeconfig such a setup
 * uses (`server: http://127.0.0.1:<port>`, no TLS settings, no user credentials).
 */
export async function kubectlProxyStandIn(t: Test, api: FakeKubeApi): Promise<{ kubeConfigText: string; requests: () => number }> {
  let requests = 0;
  const target = new URL(api.url);
  const server = http.createServer((request, response) => {
    requests++;
    const upstream = http.request(
      { hostname: target.hostname, port: target.port, path: request.url, method: request.method, headers: { ...request.headers, host: target.host, authorization: `Bearer ${api.token}` } },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return {
    kubeConfigText: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'proxy', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'proxy', user: {} }],
      contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxy' } }],
      'current-context': 'proxy',
    }),
    requests: () => requests,
  };
}
