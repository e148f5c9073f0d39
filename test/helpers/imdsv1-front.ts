import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/**
 * A loopback hop that refuses the IMDSv2 token PUT with 403, as an IMDSv1-only metadata
 * service or an old proxy does, and forwards everything else to the agent from the caller's own
 * source address (so the agent still sees the pod). Real SDKs then take their IMDSv1 path
 * by their own fallback logic, with no patching of the SDK.
 */
export async function imdsv1Front(t: Test, agentUrl: string): Promise<string> {
  const target = new URL(agentUrl);
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.writeHead(403).end('Forbidden');
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers, localAddress: req.socket.remoteAddress, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
