import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * Accepts on one more address for an HTTP server that already listens (the node's IPv6 address,
 * next to its IPv4 one), and hands every connection to that server, so its limits, timeouts and
 * routes apply as to its own. Resolves with the listening socket server; close it before the
 * HTTP server. Port 0 means the HTTP server's own port.
 */
export async function alsoListen(server: HttpServer, host: string, port: number): Promise<Server> {
  const listener = createServer({ pauseOnConnect: false }, (socket) => server.emit('connection', socket));
  const wanted = port === 0 ? (server.address() as AddressInfo | null)?.port ?? 0 : port;
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    // SO_REUSEPORT as the HTTP server's own listener (main.ts): a successor agent binds beside this one.
    const options = { host, port: wanted, ipv6Only: true, reusePort: true };
    listener.listen(options, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  return listener;
}

/** Stops accepting; connections already handed over are the HTTP server's to close. */
export function closeListener(listener: Server): Promise<void> {
  return new Promise((resolve) => listener.close(() => resolve()));
}
