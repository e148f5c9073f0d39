import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Test } from 'tap';

export interface TcpRelay {
  /** `https://127.0.0.1:<port>` of the relay (TLS passes through it untouched). */
  server: string;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Bytes the server sent back through it so far. */
  received(): number;
  /** Resolves when bytes next come back from the server. */
  nextBytesBack(): Promise<void>;
  /** Stops carrying the connections open now, either way, without closing them: a link dead without a FIN or RST. New connections are carried. */
  freeze(): void;
}

/** A TCP relay to `target` on loopback that counts what passes, until the test ends. */
export async function tcpRelay(t: Test, target: URL): Promise<TcpRelay> {
  let connections = 0;
  let received = 0;
  const stops = new Set<() => void>();
  const backWaiters: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const relay = net.createServer((client) => {
    connections++;
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const forth = (chunk: Buffer) => upstream.write(chunk);
    const back = (chunk: Buffer) => {
      received += chunk.length;
      client.write(chunk);
      for (const waiter of backWaiters.splice(0)) waiter();
    };
    client.on('data', forth);
    upstream.on('data', back);
    stops.add(() => {
      client.removeListener('data', forth);
      upstream.removeListener('data', back);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    relay.close();
  });
  return {
    server: `https://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    connections: () => connections,
    received: () => received,
    nextBytesBack: () => new Promise<void>((resolve) => backWaiters.push(resolve)),
    freeze() {
      for (const stop of stops) stop();
      stops.clear();
    },
  };
}
