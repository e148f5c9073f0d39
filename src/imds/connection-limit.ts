import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Caps open connections per caller address: a pod that opens sockets without end (or holds them
 * half-sent) would otherwise use up the agent's file descriptors for every pod on the node.
 */
export function limitConnectionsPerCaller(server: Server, maxPerCaller: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const caller = socket.remoteAddress ?? '';
    const count = (open.get(caller) ?? 0) + 1;
    if (count > maxPerCaller) {
      socket.destroy();
      return;
    }
    open.set(caller, count);
    socket.once('close', () => {
      const left = (open.get(caller) ?? 1) - 1;
      if (left === 0) open.delete(caller);
      else open.set(caller, left);
    });
  });
}
