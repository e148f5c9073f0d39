/**
 * A V8 heap snapshot (the .heapsnapshot JSON of --heapsnapshot-signal or v8.writeHeapSnapshot)
 * summarised: self size by type and name (the constructor for objects), and the objects that
 * retain the most (their dominator subtree), each named by the field or variable that holds it.
 */

export interface HeapSummary {
  nodes: number;
  totalMb: number;
  byName: Array<{ name: string; count: number; selfMb: number }>;
  retainers: Array<{ name: string; retainedMb: number }>;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const MB = 1024 * 1024;

export function summariseHeapSnapshot(text: string, top = 30): HeapSummary {
  const snap = JSON.parse(text) as Snapshot;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const typeOf = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const [NT, NN, NS, NE] = ['type', 'name', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number];
  const [ET, EN, ETO] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
  const weak = edgeTypes.indexOf('weak');
  const elementLike = new Set([edgeTypes.indexOf('element'), edgeTypes.indexOf('hidden')]);
  const count = snap.nodes.length / nf;
  const name = (i: number) => `${typeOf[snap.nodes[i * nf + NT]!]}: ${snap.strings[snap.nodes[i * nf + NN]!]!.slice(0, 60)}`;
  const self = (i: number) => snap.nodes[i * nf + NS]!;

  // Self size by type and name.
  const byName = new Map<string, { count: number; self: number }>();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const key = name(i);
    const entry = byName.get(key) ?? { count: 0, self: 0 };
    entry.count++;
    entry.self += self(i);
    total += self(i);
    byName.set(key, entry);
  }

  // Edges: first edge of each node, successors and predecessors (weak edges do not retain).
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += snap.nodes[i * nf + NE]! * ef;
    firstEdge[i + 1] = e;
  }
  const to = (e: number) => snap.edges[e + ETO]! / nf;
  const predCount = new Uint32Array(count);
  for (let i = 0; i < count; i++) for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) if (snap.edges[e + ET] !== weak) predCount[to(e)]!++;
  const predStart = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) predStart[i + 1] = predStart[i]! + predCount[i]!;
  const preds = new Uint32Array(predStart[count]!);
  const fill = predStart.slice(0, count);
  for (let i = 0; i < count; i++) for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) if (snap.edges[e + ET] !== weak) preds[fill[to(e)]!++] = i;

  // Post-order from the root (node 0), iteratively.
  const order = new Int32Array(count).fill(-1);
  const post: number[] = [];
  const stack: Array<[number, number]> = [[0, firstEdge[0]!]];
  order[0] = -2;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [n, e] = top;
    if (e < firstEdge[n + 1]!) {
      top[1] = e + ef;
      if (snap.edges[e + ET] === weak) continue;
      const m = to(e);
      if (order[m] === -1) {
        order[m] = -2;
        stack.push([m, firstEdge[m]!]);
      }
    } else {
      order[n] = post.length;
      post.push(n);
      stack.pop();
    }
  }

  // Immediate dominators (Cooper, Harvey, Kennedy), over post-order numbers.
  const idom = new Int32Array(count).fill(-1);
  const root = 0;
  idom[root] = root;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const n = post[k]!;
      let next = -1;
      for (let p = predStart[n]!; p < predStart[n + 1]!; p++) {
        const q = preds[p]!;
        if (order[q]! < 0 || idom[q] === -1) continue;
        next = next === -1 ? q : intersect(q, next);
      }
      if (next !== -1 && idom[n] !== next) {
        idom[n] = next;
        changed = true;
      }
    }
  }

  // Retained sizes: children before parents in post-order.
  const retained = new Float64Array(count);
  for (const n of post) retained[n] = retained[n]! + self(n);
  for (const n of post) if (n !== root && idom[n]! >= 0 && idom[n] !== n) retained[idom[n]!] = retained[idom[n]!]! + retained[n]!;

  // The name of an object's holder: the edge from its dominator, else from any retainer.
  const holder = (n: number) => {
    const d = idom[n]!;
    for (const from of [d, ...Array.from(preds.subarray(predStart[n], predStart[n + 1]))]) {
      for (let e = firstEdge[from]!; e < firstEdge[from + 1]!; e += ef) {
        if (to(e) !== n) continue;
        const edgeName = elementLike.has(snap.edges[e + ET]!) ? `[${snap.edges[e + EN]}]` : snap.strings[snap.edges[e + EN]!];
        return `${snap.strings[snap.nodes[from * nf + NN]!]!.slice(0, 40)}.${edgeName}`;
      }
    }
    return '?';
  };
  const candidates: number[] = [];
  for (let n = 1; n < count; n++) {
    const type = typeOf[snap.nodes[n * nf + NT]!];
    if (type === 'synthetic' || type === 'hidden') continue;
    if (retained[n]! >= 0.05 * MB) candidates.push(n);
  }
  candidates.sort((a, b) => retained[b]! - retained[a]!);
  return {
    nodes: count,
    totalMb: total / MB,
    byName: [...byName.entries()].sort((a, b) => b[1].self - a[1].self).slice(0, top).map(([key, v]) => ({ name: key, count: v.count, selfMb: v.self / MB })),
    retainers: candidates.slice(0, top * 2).map((n) => ({ name: `${name(n)} (held by ${holder(n)})`, retainedMb: retained[n]! / MB })),
  };
}
