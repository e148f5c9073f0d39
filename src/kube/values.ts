/**
 * Readers for values of unknown shape: objects from the API server (plain JSON, or client-node
 * model instances), parsed kubeconfig YAML, and whatever was thrown. A missing or oddly typed
 * field reads as a default instead of throwing.
 */
export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value if it is a (non-array) object, else an empty one. */
export function record(value: unknown): Json {
  return isRecord(value) ? value : {};
}

export function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** The first line of an error's message (client-node and yaml put details on later lines). */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
