import net from 'node:net';

/**
 * A hostile pod, in a process of its own (it shares the machine's cores with the agent, as a pod
 * on the node would): `connections` keep-alive connections from one source address, each keeping
 * `depth` pipelined GETs outstanding, reconnecting whenever the agent closes one. It reads and
 * discards the answers, counting them by status. Bounded: it stops after `seconds`.
 *
 * argv: url path sourceIp connections depth seconds. Prints one JSON line of FloodCounts.
 */

export interface FloodCounts {
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  answers: number;
  /** Connections the agent closed or reset (each is reopened). */
  closed: number;
  connectErrors: number;
  seconds: number;
}

function flood(url: URL, path: string, source: string, connections: number, depth: number, seconds: number): Promise<FloodCounts> {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: flooder\r\n\r\n`);
  const burst = Buffer.concat(Array.from({ length: depth }, () => request));
  const counts: FloodCounts = { statuses: {}, answers: 0, closed: 0, connectErrors: 0, seconds };
  const sockets = new Set<net.Socket>();
  const end = performance.now() + seconds * 1000;
  let stopping = false;

  // Status lines are found by scanning for "HTTP/1.1 "; a line split across chunks is caught by
  // keeping the last few bytes of each chunk.
  const open = () => {
    if (stopping) return;
    const socket = net.connect({ host: url.hostname, port: Number(url.port), localAddress: source });
    sockets.add(socket);
    let outstanding = 0;
    let tail = '';
    let connected = false;
    const refill = () => {
      if (stopping) return;
      const missing = depth - outstanding;
      if (missing <= 0) return;
      outstanding += missing;
      socket.write(missing === depth ? burst : burst.subarray(0, missing * request.length));
    };
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      refill();
    });
    socket.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      let at = text.indexOf('HTTP/1.1 ');
      let answered = 0;
      while (at !== -1 && at + 12 <= text.length) {
        const status = text.slice(at + 9, at + 12);
        counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
        answered++;
        at = text.indexOf('HTTP/1.1 ', at + 12);
      }
      tail = text.slice(Math.max(0, at === -1 ? text.length - 11 : at));
      counts.answers += answered;
      outstanding -= answered;
      // Keep `depth` requests in flight: send one more for each answer, in batches.
      if (outstanding <= depth / 2) refill();
    });
    socket.on('error', () => {
      if (!connected) counts.connectErrors++;
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (stopping) return;
      counts.closed++;
      // A closed connection is reopened at once, as a flooding client would.
      setImmediate(open);
    });
  };

  for (let i = 0; i < connections; i++) open();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stopping = true;
      for (const socket of sockets) socket.destroy();
      resolve(counts);
    }, Math.max(0, end - performance.now()));
    timer.unref?.();
  });
}

const [urlText, path, source, connections, depth, seconds] = process.argv.slice(2);
if (!urlText || !path || !source) {
  process.stderr.write('usage: flooder url path sourceIp connections depth seconds\n');
  process.exit(2);
}
const counts = await flood(new URL(urlText), path, source, Number(connections ?? 256), Number(depth ?? 64), Number(seconds ?? 10));
process.stdout.write(`${JSON.stringify(counts)}\n`);
process.exit(0);
