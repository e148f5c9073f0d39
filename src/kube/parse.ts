import { socketForm } from '../net/index.js';
import type { NamespaceInfo, PodInfo, ServiceAccountInfo } from './types.js';
import { record, text, type Json } from './values.js';

/*
 * Raw objects are plain JSON from the http transport, or client-node model instances (timestamps
 * as Date) from its list calls when that transport is in use. Both are read through the guards of
 * values.ts, so a missing or oddly typed field yields a default instead of a throw.
 */

/**
 * The annotation keys a store keeps (the ones decisions read); every other annotation is dropped
 * at parse time. Without one, all string annotations are kept (explain and audit read whole objects).
 */
export type AnnotationFilter = ReadonlySet<string>;

/** One object for every filtered object without any kept annotation: most namespaces of a large cluster. */
const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});

function annotationsOf(metadata: Json, keep: AnnotationFilter | undefined): Readonly<Record<string, string>> {
  const all = record(metadata.annotations);
  if (keep === undefined) {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(all)) {
      if (typeof value === 'string') out[key] = value;
    }
    return out;
  }
  let out: Record<string, string> | undefined;
  // The keys come from the filter (the config's strings, shared by every object), not from the
  // parsed JSON, so no object holds a copy of its own.
  for (const key of keep) {
    const value = all[key];
    if (typeof value === 'string') (out ??= {})[key] = value;
  }
  return out ?? NO_ANNOTATIONS;
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
    annotations: annotationsOf(metadata, undefined),
  };
}

/** A namespace with all its annotations (explain, audit). */
export function parseNamespace(raw: unknown): NamespaceInfo {
  return namespaceOf(raw, undefined);
}

/** A ServiceAccount with all its annotations (explain, audit). */
export function parseServiceAccount(raw: unknown): ServiceAccountInfo {
  return serviceAccountOf(raw, undefined);
}

/** Parsers for the agent's caches, which keep only the annotations in `keep`. */
export function keepingAnnotations(keep: AnnotationFilter): {
  namespace: (raw: unknown) => NamespaceInfo;
  serviceAccount: (raw: unknown) => ServiceAccountInfo;
} {
  return { namespace: (raw) => namespaceOf(raw, keep), serviceAccount: (raw) => serviceAccountOf(raw, keep) };
}

function namespaceOf(raw: unknown, keep: AnnotationFilter | undefined): NamespaceInfo {
  const metadata = record(record(raw).metadata);
  return { name: text(metadata.name), annotations: annotationsOf(metadata, keep) };
}

function serviceAccountOf(raw: unknown, keep: AnnotationFilter | undefined): ServiceAccountInfo {
  const metadata = record(record(raw).metadata);
  return { name: text(metadata.name), namespace: text(metadata.namespace), annotations: annotationsOf(metadata, keep) };
}

/** A watch ERROR event carries a metav1.Status; its code (410 for an expired resourceVersion) decides relist vs retry. */
export function statusCodeOf(raw: unknown): number | undefined {
  const code = record(raw).code;
  return typeof code === 'number' ? code : undefined;
}
