import { socketForm } from '../net/index.js';
import type { NamespaceInfo, PodInfo, ServiceAccountInfo } from './types.js';
import { record, text, type Json } from './values.js';

/*
 * Raw objects are plain JSON from the http transport, or client-node model instances (timestamps
 * as Date) from its list calls when that transport is in use. Both are read through the guards of
 * values.ts, so a missing or oddly typed field yields a default instead of a throw.
 */

function annotationsOf(metadata: Json): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record(metadata.annotations))) {
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

/** status.podIP first, then the rest of status.podIPs ([{ip}]), each once. */
function podIpsOf(status: Json): string[] {
  const ips: string[] = [];
  const add = (value: unknown) => {
    if (typeof value !== 'string' || value === '') return;
    const ip = socketForm(value);
    if (!ips.includes(ip)) ips.push(ip);
  };
  add(status.podIP);
  if (Array.isArray(status.podIPs)) for (const entry of status.podIPs) add(record(entry).ip);
  return ips;
}

/** The resourceVersion of any Kubernetes object or list, or undefined. */
export function resourceVersionOf(raw: unknown): string | undefined {
  const version = record(record(raw).metadata).resourceVersion;
  return typeof version === 'string' && version !== '' ? version : undefined;
}

export function parsePod(raw: unknown): PodInfo {
  const object = record(raw);
  const metadata = record(object.metadata);
  const spec = record(object.spec);
  const status = record(object.status);
  const name = text(metadata.name);
  const namespace = text(metadata.namespace);
  const ips = podIpsOf(status);
  const deletion = metadata.deletionTimestamp;
  return {
    // A uid is always present on real objects; the fallback keeps a malformed one from colliding with ''.
    uid: text(metadata.uid) || `${namespace}/${name}`,
    name,
    namespace,
    nodeName: text(spec.nodeName),
    ip: ips[0],
    ips,
    phase: text(status.phase, 'Unknown'),
    terminating: deletion !== undefined && deletion !== null && deletion !== '',
    hostNetwork: spec.hostNetwork === true,
    serviceAccountName: text(spec.serviceAccountName) || text(spec.serviceAccount) || 'default',
    annotations: annotationsOf(metadata),
  };
}

export function parseNamespace(raw: unknown): NamespaceInfo {
  const metadata = record(record(raw).metadata);
  return { name: text(metadata.name), annotations: annotationsOf(metadata) };
}

export function parseServiceAccount(raw: unknown): ServiceAccountInfo {
  const metadata = record(record(raw).metadata);
  return { name: text(metadata.name), namespace: text(metadata.namespace), annotations: annotationsOf(metadata) };
}

/** A watch ERROR event carries a metav1.Status; its code (410 for an expired resourceVersion) decides relist vs retry. */
export function statusCodeOf(raw: unknown): number | undefined {
  const code = record(raw).code;
  return typeof code === 'number' ? code : undefined;
}
