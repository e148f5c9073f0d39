import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

/**
 * The checkout's root: the nearest directory above this file with a package.json. From
 * test/helpers/ when tap runs the TypeScript, from dist/test/helpers/ when a bench compiled
 * with tsconfig.bench.json imports it (dist/ has no package.json).
 */
function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * What the helpers need of a tap test: its time-out (lifted while a build runs) and its
 * teardown. A bench outside tap passes one of its own (bench/api-server-load.ts).
 */
export type TestScope = Pick<Test, 'setTimeout' | 'teardown'>;

/** A first build (kube-apiserver above all) downloads modules and compiles for many minutes. */
const BUILD_TIMEOUT_MS = 45 * 60_000;

export type PeerBuild = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Runs one of the scripts/build-*.sh peer builders and returns the path it prints. They return at
 * once when the cached artefact matches the pinned version, else build it (the test's timeout is
 * lifted meanwhile). Exit 3 means a toolchain is missing: the caller skips with that reason.
 * Any other failure is a failed build, and throws: with the toolchain present the peer must run.
 */
export function buildPeer(t: Pick<TestScope, 'setTimeout'>, script: string): PeerBuild {
  t.setTimeout(BUILD_TIMEOUT_MS);
  try {
    const result = spawnSync('bash', [join(ROOT, 'scripts', script)], { cwd: ROOT, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
    const path = result.stdout.trim().split('\n').at(-1) ?? '';
    if (result.status === 0 && existsSync(path)) return { ok: true, path };
    const said = result.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${result.status ?? result.signal}`;
    if (result.status === 3) return { ok: false, reason: said };
    throw new Error(`scripts/${script} failed (${result.status ?? result.signal}):\n${result.stderr.slice(-4000)}`);
  } finally {
    t.setTimeout(Number(process.env.TAP_TIMEOUT ?? 600) * 1000);
  }
}

/** True when `command` runs (exit 0) with `args`; a missing tool or a failing one is false. */
export function hasTool(command: string, args: readonly string[] = ['--version']): boolean {
  return spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

interface PeerEntry {
  /** One of kube-apiserver, botocore, aws-sdk-js-v3, aws-sdk-java-v2, aws-sdk-go-v2, agent-restart. */
  peer: string;
  version?: string;
  /** Why it did not run, when it did not. */
  skipped?: string;
}

/**
 * Appends one line to $CORRIDOR_PEERS_REPORT (scripts/test-peers.sh reads it to print the
 * `peers:` line). Without that variable (a peer test run on its own) it does nothing.
 */
function reportPeer(entry: PeerEntry): void {
  const file = process.env.CORRIDOR_PEERS_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

/**
 * Reports `peer` as passed, with the version `version()` found, when `t` ends with every
 * assertion and subtest passing; a failing run reports nothing (the runner names it as failed).
 */
export function reportPeerWhenPassing(t: Test, peer: string, version: () => string | undefined): void {
  t.teardown(() => {
    if (t.passing()) reportPeer({ peer, version: version() ?? 'unknown version' });
  });
}

/** Skips `t` saying what is missing, and reports the skip to the runner. */
export function skipPeer(t: Test, peer: string, reason: string): void {
  reportPeer({ peer, skipped: reason });
  t.test(peer, { skip: `${peer}: ${reason}` }, () => {});
}
