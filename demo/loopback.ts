import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the agent on loopback is told the node's metadata service is: a closed port, since nothing is ever passed through. */
const NO_UPSTREAM = 'http://127.0.0.1:9';

export interface LoopbackAgentOptions {
  nodeName: string;
  kubeconfig: string;
  stsEndpoint: string;
  baseRoleArn: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  adminPort?: number;
  logLevel?: string;
  /** Empty (the default): a memory key, so nothing is written to the node's /var/lib/corridor. */
  tokenKeyDir?: string;
}

/**
 * `corridor agent` flags for a node on 127.0.0.1 against the stand-ins (the demo, the test
 * harness, the benchmarks): pods are 127.0.0.x source addresses, and no path is proxied to a real
 * metadata service.
 */
export function loopbackAgentFlags(options: LoopbackAgentOptions): string[] {
  return [
    '--node-name', options.nodeName, '--host-ip', '127.0.0.1', '--port', String(options.port ?? 0),
    '--admin-host', '127.0.0.1', '--admin-port', String(options.adminPort ?? 0),
    '--kubeconfig', options.kubeconfig, '--base-role-arn', options.baseRoleArn,
    '--sts-endpoint', options.stsEndpoint, '--sts-region', 'us-east-1',
    '--passthrough-paths', '', '--imds-upstream', NO_UPSTREAM,
    '--log-level', options.logLevel ?? 'info',
    '--token-key-dir', options.tokenKeyDir ?? '',
  ];
}

export interface TempKubeconfig {
  path: string;
  /** The private directory the file is in, for whatever else belongs with it. */
  dir: string;
  remove(): void;
}

/** A kubeconfig in a private temporary directory (mode 0600), removed with it. */
export function writeTempKubeconfig(text: string, prefix = 'corridor-'): TempKubeconfig {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, text, { mode: 0o600 });
  return { path, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
