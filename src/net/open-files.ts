import { readFileSync } from 'node:fs';

/**
 * How many connections each server may hold in all: from this node's pods, and from strangers
 * (callers that are no pod of this node: another node's pods, Prometheus, a pod not yet seen).
 */
export interface ConnectionBudget {
  imds: number;
  imdsStrangers: number;
  admin: number;
  adminStrangers: number;
}

export const DEFAULT_CONNECTION_BUDGET: ConnectionBudget = { imds: 4096, imdsStrangers: 128, admin: 256, adminStrangers: 256 };

// Descriptors kept for everything else: the watches, STS and the upstream IMDS, key files, and
// localhost's connections to the admin port (not counted in its budget).
const RESERVED_FILES = 512;

/**
 * The process's open-file limit (Node raises the soft limit to the hard one at start), from
 * /proc/self/limits; undefined where that cannot be read.
 */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(read());
    if (!match) return undefined;
    return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** The defaults, shrunk to fit under `limit` so no caller can make the agent run out of descriptors. */
export function connectionBudget(limit: number | undefined): ConnectionBudget {
  if (limit === undefined) return DEFAULT_CONNECTION_BUDGET;
  const available = Math.max(64, limit - RESERVED_FILES);
  const admin = Math.min(DEFAULT_CONNECTION_BUDGET.admin, Math.max(8, Math.floor(available * 0.05)));
  return {
    imds: Math.min(DEFAULT_CONNECTION_BUDGET.imds, Math.floor(available * 0.85)),
    imdsStrangers: Math.min(DEFAULT_CONNECTION_BUDGET.imdsStrangers, Math.max(4, Math.floor(available * 0.05))),
    admin,
    adminStrangers: admin,
  };
}
