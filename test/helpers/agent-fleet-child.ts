// One process of a simulated fleet (agent-fleet.ts): many agents' Kubernetes code, each its own
// HTTP transport (its own connections) and pod directory for its own node, as on real nodes.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import { createPodDirectory } from '../../src/kube/index.js';
import type { RunningPodDirectory } from '../../src/kube/index.js';
import type { KubeTransport } from '../../src/kube/api/transport-types.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { systemClock, systemScheduler } from '../../src/time/index.js';
import type { FleetChildReport, FleetChildStart } from './agent-fleet.js';

const send = (message: FleetChildReport) => process.send?.(message);

process.once('message', (start: FleetChildStart) => {
  const registry = new Registry();
  const metrics = createMetrics(registry, 'fleet', { defaultMetrics: false });
  const logger = createLogger('silent');
  const running: Array<{ directory: RunningPodDirectory; transport: KubeTransport }> = [];
  const readyAtMs: Array<number | undefined> = start.nodes.map(() => undefined);
  let pending = start.nodes.length;

  const report = async (final: boolean) => {
    const throttled = (await metrics.kubeThrottled.get()).values.reduce((sum, v) => sum + v.value, 0);
    send({ type: final ? 'done' : 'progress', readyAtMs, throttled, connections: connectionsTo(Number(new URL(start.server).port)) });
  };

  start.nodes.forEach((nodeName, i) => {
    const at = start.epochMs + (start.offsetsMs[i] ?? 0);
    setTimeout(() => {
      const transport = createHttpTransport({ server: start.server, ca: start.ca, token: start.token, insecureSkipTlsVerify: false, source: 'fleet' }, { userAgent: `corridor/${nodeName}` });
      const directory = createPodDirectory({
        transport,
        nodeName,
        watchServiceAccounts: false,
        startJitterMs: start.startJitterMs,
        scheduler: systemScheduler,
        clock: systemClock,
        metrics,
        logger,
      });
      running.push({ directory, transport });
      directory.start();
      void directory.whenReady().then(() => {
        readyAtMs[i] = Date.now() - start.epochMs;
        if (--pending === 0) void report(true);
      });
    }, Math.max(0, at - Date.now()));
  });

  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') void report(false);
    if (message.type === 'stop') {
      for (const { directory, transport } of running) {
        directory.stop();
        transport.close?.();
      }
      process.disconnect();
    }
  });
});

/**
 * This process's established TCP connections to `port`: its socket descriptors (/proc/self/fd)
 * found in the kernel's TCP tables, so a connection of another process (the API server's own end
 * on loopback, another fleet process) is not counted.
 */
function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed while listed (the readdir's own descriptor among them).
    }
  }
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: the remote port in hex, 01 = ESTABLISHED.
      const fields = line.trim().split(/\s+/);
      const remotePort = Number.parseInt(fields[2]?.split(':')[1] ?? '', 16);
      if (remotePort === port && fields[3] === '01' && inodes.has(fields[9] ?? '')) count++;
    }
  }
  return count;
}
