/**
 * Kubernetes' protobuf encoding of the objects the agent lists and watches, read into the same
 * plain shapes their JSON has (kube/parse.ts reads both alike), keeping only the fields the
 * agent's decisions use. The API server encodes protobuf for about two thirds of the CPU JSON
 * costs it, and skipping what the agent never reads (managedFields, half of a namespace's bytes)
 * costs a fraction of JSON.parse.
 *
 * Field numbers are those of k8s.io/api/core/v1 and k8s.io/apimachinery/pkg/apis/meta/v1
 * (generated.proto); they never change once published. An unknown field, or a known one of
 * another wire type, is skipped, as protobuf requires.
 */

import { text } from '../values.js';

/** The four bytes before every protobuf object the API server sends whole (not inside a watch frame). */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

export class ProtobufError extends Error {}

/** A cursor over one message's bytes. */
class Reader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const key = this.varint();
    return { field: Math.floor(key / 8), wire: key & 7 };
  }

  varint(): number {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint');
      const byte = this.buf[this.pos++] as number;
      value += (byte & 0x7f) * factor;
      if (byte < 0x80) return value;
      factor *= 128;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  /** A length-delimited field: its bounds, the cursor moved past it. */
  bytes(): { start: number; end: number } {
    const length = this.varint();
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw new ProtobufError('length-delimited field past the end of its message');
    this.pos = end;
    return { start, end };
  }

  string(): string {
    const { start, end } = this.bytes();
    return start === end ? '' : this.buf.toString('utf8', start, end);
  }

  message(): Reader {
    const { start, end } = this.bytes();
    return new Reader(this.buf, start, end);
  }

  raw(): Buffer {
    const { start, end } = this.bytes();
    return this.buf.subarray(start, end);
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === BYTES) this.bytes();
    else if (wire === FIXED64) this.advance(8);
    else if (wire === FIXED32) this.advance(4);
    else throw new ProtobufError(`unsupported wire type ${wire}`);
  }

  private advance(count: number): void {
    if (this.pos + count > this.end) throw new ProtobufError('fixed-width field past the end of its message');
    this.pos += count;
  }
}

/** Sets a string field as JSON has it: an empty string (which proto2 still encodes) is left out, as JSON's omitempty does. */
function set(into: Record<string, unknown>, key: string, reader: Reader): void {
  const value = reader.string();
  if (value !== '') into[key] = value;
}

/** One map<string, string> entry (key 1, value 2) into `into`. */
function mapEntry(reader: Reader, into: Record<string, string>): void {
  let key = '';
  let value = '';
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 1 && wire === BYTES) key = reader.string();
    else if (field === 2 && wire === BYTES) value = reader.string();
    else reader.skip(wire);
  }
  into[key] = value;
}

/** meta.v1.Time: seconds (1) since the epoch, as the RFC 3339 text JSON carries. */
function time(reader: Reader): string {
  let seconds = 0;
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 1 && wire === VARINT) seconds = reader.varint();
    else reader.skip(wire);
  }
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * meta.v1.ObjectMeta: name 1, namespace 3, uid 5, resourceVersion 6, deletionTimestamp 9,
 * annotations 12. Labels, owners and managedFields are skipped: no decision reads them.
 */
function objectMeta(reader: Reader): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  const annotations: Record<string, string> = {};
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (wire !== BYTES) reader.skip(wire);
    else if (field === 1) set(meta, 'name', reader);
    else if (field === 3) set(meta, 'namespace', reader);
    else if (field === 5) set(meta, 'uid', reader);
    else if (field === 6) set(meta, 'resourceVersion', reader);
    else if (field === 9) meta.deletionTimestamp = time(reader.message());
    else if (field === 12) mapEntry(reader.message(), annotations);
    else reader.skip(wire);
  }
  meta.annotations = annotations;
  return meta;
}

interface VarintField {
  field: number;
  name: string;
  read(value: number): unknown;
}

/**
 * A message whose wanted fields are strings, named by field number, and at most one varint:
 * read into a plain object under those names.
 */
function flatMessage(reader: Reader, strings: Readonly<Record<number, string>>, varint?: VarintField): Record<string, unknown> {
  const into: Record<string, unknown> = {};
  while (!reader.done) {
    const { field, wire } = reader.tag();
    const name = strings[field];
    if (wire === VARINT && field === varint?.field) into[varint.name] = varint.read(reader.varint());
    else if (wire === BYTES && name !== undefined) set(into, name, reader);
    else reader.skip(wire);
  }
  return into;
}

/** core.v1.PodSpec: serviceAccountName 8, serviceAccount 9, nodeName 10, hostNetwork 11. */
const POD_SPEC_STRINGS = { 8: 'serviceAccountName', 9: 'serviceAccount', 10: 'nodeName' };
const HOST_NETWORK: VarintField = { field: 11, name: 'hostNetwork', read: (value: number) => value !== 0 };

const POD_IP_STRINGS = { 1: 'ip' };

/** core.v1.PodStatus: phase 1, podIP 6, podIPs 12 (each a PodIP, ip 1). */
function podStatus(reader: Reader): Record<string, unknown> {
  const status: Record<string, unknown> = {};
  const podIPs: { ip: string }[] = [];
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (wire !== BYTES) reader.skip(wire);
    else if (field === 1) set(status, 'phase', reader);
    else if (field === 6) set(status, 'podIP', reader);
    else if (field === 12) {
      const { ip } = flatMessage(reader.message(), POD_IP_STRINGS);
      if (typeof ip === 'string') podIPs.push({ ip });
    } else reader.skip(wire);
  }
  status.podIPs = podIPs;
  return status;
}

/** Pod, Namespace and ServiceAccount all carry their ObjectMeta in field 1; a pod its spec in 2 and status in 3. */
function object(kind: string, reader: Reader): Record<string, unknown> {
  const decoded: Record<string, unknown> = { kind };
  const pod = kind === 'Pod';
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (wire !== BYTES) reader.skip(wire);
    else if (field === 1) decoded.metadata = objectMeta(reader.message());
    else if (pod && field === 2) decoded.spec = flatMessage(reader.message(), POD_SPEC_STRINGS, HOST_NETWORK);
    else if (pod && field === 3) decoded.status = podStatus(reader.message());
    else reader.skip(wire);
  }
  return decoded;
}

/** meta.v1.Status: status 2, message 3, reason 4, code 6. */
const STATUS_STRINGS = { 2: 'status', 3: 'message', 4: 'reason' };
const STATUS_CODE: VarintField = { field: 6, name: 'code', read: (value: number) => value };

const LISTS: Record<string, string> = { PodList: 'Pod', NamespaceList: 'Namespace', ServiceAccountList: 'ServiceAccount' };
const OBJECTS = new Set(['Pod', 'Namespace', 'ServiceAccount']);

/** meta.v1.ListMeta: resourceVersion 2, continue 3. */
const LIST_META_STRINGS = { 2: 'resourceVersion', 3: 'continue' };
/** meta.v1.TypeMeta: kind 2. */
const TYPE_META_STRINGS = { 2: 'kind' };

/** A list: ListMeta in 1, items in 2. */
function list(itemKind: string, reader: Reader): Record<string, unknown> {
  let metadata: Record<string, unknown> = {};
  const items: unknown[] = [];
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (wire !== BYTES) reader.skip(wire);
    else if (field === 2) items.push(object(itemKind, reader.message()));
    else if (field === 1) metadata = flatMessage(reader.message(), LIST_META_STRINGS);
    else reader.skip(wire);
  }
  return { metadata, items };
}

/**
 * One object as the API server sends it whole: the magic bytes, then a runtime.Unknown whose
 * TypeMeta (1: apiVersion 1, kind 2) names the kind and whose raw (2) holds the message.
 */
export function decodeObject(buf: Buffer): Record<string, unknown> {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new ProtobufError('not a Kubernetes protobuf object (no k8s magic)');
  let kind = '';
  let body = new Reader(Buffer.alloc(0));
  for (const unknown = new Reader(buf, MAGIC.length); !unknown.done; ) {
    const { field, wire } = unknown.tag();
    if (wire === BYTES && field === 1) kind = text(flatMessage(unknown.message(), TYPE_META_STRINGS).kind);
    else if (wire === BYTES && field === 2) body = unknown.message();
    else unknown.skip(wire);
  }
  const itemKind = LISTS[kind];
  if (itemKind !== undefined) return list(itemKind, body);
  if (OBJECTS.has(kind)) return object(kind, body);
  if (kind === 'Status') return { kind, ...flatMessage(body, STATUS_STRINGS, STATUS_CODE) };
  throw new ProtobufError(`unexpected kind ${kind === '' ? '(none)' : kind}`);
}

/** One frame of a protobuf watch stream: a meta.v1.WatchEvent (type 1, object 2: a RawExtension whose raw 1 is a whole object). */
export function decodeWatchEvent(frame: Buffer): { type: string | undefined; object: unknown } {
  let type: string | undefined;
  let object: unknown;
  for (const event = new Reader(frame); !event.done; ) {
    const { field, wire } = event.tag();
    if (wire === BYTES && field === 1) type = event.string();
    else if (wire === BYTES && field === 2) {
      for (const raw = event.message(); !raw.done; ) {
        const inner = raw.tag();
        if (inner.wire === BYTES && inner.field === 1) object = decodeObject(raw.raw());
        else raw.skip(inner.wire);
      }
    } else event.skip(wire);
  }
  return { type, object };
}
