// Kubernetes' protobuf wire format, written from JSON-shaped objects, for stand-in API servers
// that answer as a real one does to `Accept: application/vnd.kubernetes.protobuf`. It writes the
// fields of k8s.io/api/core/v1 and meta/v1 that the agent reads, and fields it must skip
// (managedFields, containers, conditions, a fixed64 and a fixed32 no message has) around them.
// Field numbers are checked against the real kube-apiserver in test/peers/kube-list-pages.peer.ts.

type Json = Record<string, unknown>;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

const key = (field: number, wire: number) => varint(field * 8 + wire);

export function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([key(field, 2), varint(value.length), value]);
}

export function stringField(field: number, value: unknown): Buffer {
  return typeof value === 'string' ? bytesField(field, Buffer.from(value, 'utf8')) : Buffer.alloc(0);
}

function varintField(field: number, value: number): Buffer {
  return Buffer.concat([key(field, 0), varint(value)]);
}

/** Fields of wire types 1 and 5 under numbers no message here uses: a reader must skip them. */
function oddFields(): Buffer {
  return Buffer.concat([key(900, 1), Buffer.alloc(8, 7), key(901, 5), Buffer.alloc(4, 9)]);
}

function map(field: number, entries: unknown): Buffer {
  if (typeof entries !== 'object' || entries === null) return Buffer.alloc(0);
  return Buffer.concat(Object.entries(entries as Record<string, string>).map(([k, v]) => bytesField(field, Buffer.concat([stringField(1, k), stringField(2, v)]))));
}

function time(field: number, value: unknown): Buffer {
  return typeof value === 'string' ? bytesField(field, varintField(1, Math.floor(Date.parse(value) / 1000))) : Buffer.alloc(0);
}

function objectMeta(meta: Json): Buffer {
  const managedFields = bytesField(17, Buffer.concat([stringField(1, 'kubectl'), stringField(2, 'Update'), bytesField(7, Buffer.from('{"f:metadata":{}}'))]));
  return Buffer.concat([
    stringField(1, meta.name),
    stringField(3, meta.namespace ?? ''),
    stringField(5, meta.uid),
    stringField(6, meta.resourceVersion),
    time(8, '2026-01-01T00:00:00Z'),
    time(9, meta.deletionTimestamp),
    map(11, meta.labels),
    map(12, meta.annotations),
    managedFields,
    oddFields(),
  ]);
}

function podSpec(spec: Json): Buffer {
  return Buffer.concat([
    bytesField(2, Buffer.concat([stringField(1, 'app'), stringField(2, 'app:1')])),
    stringField(8, spec.serviceAccountName ?? ''),
    stringField(9, spec.serviceAccount ?? ''),
    stringField(10, spec.nodeName ?? ''),
    varintField(11, spec.hostNetwork === true ? 1 : 0),
  ]);
}

function podStatus(status: Json): Buffer {
  const ips = Array.isArray(status.podIPs) ? (status.podIPs as Json[]) : [];
  return Buffer.concat([
    stringField(1, status.phase ?? ''),
    bytesField(2, Buffer.concat([stringField(1, 'Ready'), stringField(2, 'True')])),
    stringField(6, status.podIP ?? ''),
    ...ips.map((entry) => bytesField(12, stringField(1, entry.ip))),
  ]);
}

function message(kind: string, object: Json): Buffer {
  const meta = bytesField(1, objectMeta((object.metadata ?? {}) as Json));
  if (kind === 'Pod') return Buffer.concat([meta, bytesField(2, podSpec((object.spec ?? {}) as Json)), bytesField(3, podStatus((object.status ?? {}) as Json))]);
  if (kind === 'Namespace') return Buffer.concat([meta, bytesField(2, stringField(1, 'kubernetes')), bytesField(3, stringField(1, 'Active'))]);
  if (kind === 'ServiceAccount') return Buffer.concat([meta, bytesField(2, stringField(1, 'a-secret'))]);
  if (kind === 'Status')
    return Buffer.concat([bytesField(1, Buffer.alloc(0)), stringField(2, object.status ?? 'Failure'), stringField(3, object.message ?? ''), stringField(4, object.reason ?? ''), varintField(6, Number(object.code ?? 0))]);
  throw new Error(`no protobuf writer for ${kind}`);
}

/** A whole object or list as the API server sends one: the magic bytes and a runtime.Unknown naming its kind. */
export function encodeObject(kind: string, object: Json): Buffer {
  let raw: Buffer;
  if (kind.endsWith('List')) {
    const listMeta = (object.metadata ?? {}) as Json;
    const items = Array.isArray(object.items) ? (object.items as Json[]) : [];
    raw = Buffer.concat([
      bytesField(1, Buffer.concat([stringField(2, listMeta.resourceVersion ?? ''), stringField(3, listMeta.continue ?? '')])),
      ...items.map((item) => bytesField(2, message(kind.slice(0, -'List'.length), item))),
    ]);
  } else {
    raw = message(kind, object);
  }
  const typeMeta = bytesField(1, Buffer.concat([stringField(1, 'v1'), stringField(2, kind)]));
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), typeMeta, bytesField(2, raw), stringField(3, ''), stringField(4, '')]);
}

/** One frame of a protobuf watch stream: the length, then a WatchEvent whose object is whole (with its magic). */
export function encodeWatchFrame(type: string, kind: string, object: Json): Buffer {
  const event = Buffer.concat([stringField(1, type), bytesField(2, bytesField(1, encodeObject(kind, object)))]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(event.length);
  return Buffer.concat([length, event]);
}
