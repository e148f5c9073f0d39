// One process of a simulated fleet (agent-fleet.ts): many agents' Kubernetes code, each its own
// HTTP transport (its own connections) and pod directory for its own node, as on real nodes.
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { parseAgentConfig } from '../../src/config/index.js';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import { createPodDirectory } from '../../src/kube/index.js';
import type { RunningPodDirectory } from '../../src/kube/index.js';
import type { KubeTransport, WatchResource } from '../../src/kube/api/transport-types.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { systemClock, systemScheduler } from '../../src/time/index.js';
import { STAMP_ANNOTATION, stampTime, type FleetChildReport, type FleetChildStart } from './agent-fleet.js';
import { establishedConnections } from './proc-stats.js';

const send = (message: FleetChildReport) => process.send?.(message);

/** Bytes this process has read through read(2)-like calls: its sockets' TLS records, once its code is loaded. */
function bytesRead(): number {
  const line = /^rchar:\s*(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(line?.[1] ?? 0);
}

/**
 * The transport, counting relists: a list begun after that resource's first complete list (after
 * a 410, or a watch that failed for good). Retries of a first list refused with 429 are not
 * relists; the throttled counter has those.
 */
function countingRelists(transport: KubeTransport, relisted: () => void): KubeTransport {
  const listed = new Set<WatchResource>();
  return {
    async list(resource, request) {
      if (request.continue === undefined && listed.has(resource)) relisted();
      const result = await transport.list(resource, request);
      if (result.continue === undefined) listed.add(resource);
      return result;
    },
    watch: (resource, request, handlers) => transport.watch(resource, request, handlers),
    getNode: (name) => transport.getNode(name),
    patchNode: (name, patch) => transport.patchNode(name, patch),
    requestToken: (request) => transport.requestToken(request),
    close: () => transport.close?.(),
  };
}

process.once('message', (start: FleetChildStart) => {
  const registry = new Registry();
  const metrics = createMetrics(registry, 'fleet', { defaultMetrics: false });
  const logger = createLogger('silent');
  const running: Array<{ directory: RunningPodDirectory; transport: KubeTransport }> = [];
  const readyAtMs: Array<number | undefined> = start.nodes.map(() => undefined);
  const stampLatenciesMs: Record<string, number[]> = {};
  let relists = 0;
  let pending = start.nodes.length;
  const bytesAtStart = bytesRead();
  let startupBytes: number | undefined;

  const report = async (final: boolean) => {
    const throttled = (await metrics.kubeThrottled.get()).values.reduce((sum, v) => sum + v.value, 0);
    const read = bytesRead() - bytesAtStart;
    const connections = establishedConnections([process.pid], Number(new URL(start.server).port));
    send({ type: final ? 'done' : 'progress', readyAtMs, throttled, relists, startupBytes: startupBytes ?? read, bytesRead: read, connections, stampLatenciesMs });
  };

  /** Each change of the stamped namespace's role, timed from the moment the stamp says it was sent to the moment this agent's store has it. */
  const timeStamps = (directory: RunningPodDirectory, namespace: string) => {
    let seen: string | undefined;
    let first = true;
    // Called once at ready (with whatever the list held) and after every change the watches bring.
    directory.onChange(() => {
      const value = directory.namespace(namespace)?.annotations[STAMP_ANNOTATION];
      if (first || value === seen) {
        first = false;
        seen = value;
        return;
      }
      seen = value;
      const sentAtMs = stampTime(value);
      if (value !== undefined && sentAtMs !== undefined) (stampLatenciesMs[value] ??= []).push(Date.now() - sentAtMs);
    });
  };

  // The annotations the agent's decisions read, as main passes them (the default keys).
  const defaults = parseAgentConfig(['--node-name', 'fleet', '--host-ip', '127.0.0.1'], {});
  if (!defaults.ok) throw new Error(defaults.errors.join('; '));
  const annotationKeys = Object.values<string>({ ...defaults.config.annotations });

  start.nodes.forEach((nodeName, i) => {
    const at = start.epochMs + (start.offsetsMs[i] ?? 0);
    setTimeout(() => {
      const http = createHttpTransport({ server: start.server, ca: start.ca, token: start.token, insecureSkipTlsVerify: false, source: 'fleet' }, { userAgent: `corridor/${nodeName}`, ...(start.contentType !== undefined ? { contentType: start.contentType } : {}) });
      const transport = countingRelists(http, () => relists++);
      const directory = createPodDirectory({
        transport,
        nodeName,
        watchServiceAccounts: false,
        annotationKeys,
        startJitterMs: start.startJitterMs,
        scheduler: systemScheduler,
        clock: systemClock,
        metrics,
        logger,
      });
      if (start.stampNamespace !== undefined) timeStamps(directory, start.stampNamespace);
      running.push({ directory, transport });
      directory.start();
      void directory.whenReady().then(() => {
        readyAtMs[i] = Date.now() - start.epochMs;
        if (--pending > 0) return;
        startupBytes = bytesRead() - bytesAtStart;
        void report(true);
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
