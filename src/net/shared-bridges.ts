import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A bridge on the node with pod interfaces (veths) as its ports: those pods share one L2 segment. */
export interface SharedBridge {
  bridge: string;
  /** Ports whose peer lives in another network namespace: pods' veths. */
  podPorts: number;
}

/**
 * The bridges of this network namespace that pods' veths are plugged into, read from sysfs (the
 * agent runs in the node's network namespace). On such a bridge (the bridge CNI plugin, flannel,
 * kubenet, Docker) a pod holding CAP_NET_RAW can answer the node's ARP for another pod's IP and
 * complete a TCP handshake as that pod: the TCP peer address corridor trusts is then forged.
 * Routed CNIs (the VPC CNI, Calico, Cilium: one /32 route per pod veth) have no such bridge.
 */
export function sharedBridges(sysClassNet = '/sys/class/net'): SharedBridge[] {
  const found: SharedBridge[] = [];
  for (const name of list(sysClassNet)) {
    const ports = list(join(sysClassNet, name, 'brif'));
    if (ports.length === 0) continue;
    const podPorts = ports.filter((port) => isPairedDevice(join(sysClassNet, port))).length;
    if (podPorts > 0) found.push({ bridge: name, podPorts });
  }
  return found;
}

/** A veth (or other paired device): its link is an interface of another namespace (iflink != ifindex). */
function isPairedDevice(dir: string): boolean {
  const ifindex = read(join(dir, 'ifindex'));
  const iflink = read(join(dir, 'iflink'));
  return ifindex !== undefined && iflink !== undefined && ifindex !== iflink;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface SharedBridgeReport {
  stop(): void;
}

/**
 * Checks now and every `everyMs` (a new node's CNI makes its bridge with the first pod, after the
 * agent started) and says so when the answer changes: the gauge is the number of such bridges,
 * and a warning names them with what protects the node.
 */
export function reportSharedBridges(options: {
  gauge: { set(value: number): void };
  logger: { warn(fields: object, msg: string): void; info(fields: object, msg: string): void };
  scheduler: { schedule(delayMs: number, task: () => void): { cancel(): void } };
  everyMs?: number;
  read?: () => SharedBridge[];
}): SharedBridgeReport {
  const read = options.read ?? (() => sharedBridges());
  let last: string | undefined;
  let timer: { cancel(): void } | undefined;
  const check = () => {
    const bridges = read();
    options.gauge.set(bridges.length);
    const now = bridges.map((b) => b.bridge).sort().join(',');
    if (now !== last) {
      if (bridges.length > 0) {
        options.logger.warn(
          { bridges },
          'pods share an L2 bridge on this node: a pod with CAP_NET_RAW can answer ARP for another pod\'s IP and call corridor as that pod; ' +
            'drop NET_RAW from pods (the chart\'s admission.dropNetRaw) or filter ARP and IP sources per bridge port',
        );
      } else if (last !== undefined) {
        options.logger.info({}, 'no bridge with pod interfaces on this node any more');
      }
      last = now;
    }
    timer = options.scheduler.schedule(options.everyMs ?? 60_000, check);
  };
  check();
  return { stop: () => timer?.cancel() };
}
