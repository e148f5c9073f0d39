import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The one seam to iptables: the real one spawns the binaries, tests pass a model of the nat table. */
export interface IptablesRunner {
  /** `iptables -w <args>`. */
  run(args: readonly string[]): Promise<CommandResult>;
  /** `iptables-restore -w --noflush` with `input` on stdin: applied atomically. */
  restore(input: string): Promise<CommandResult>;
}

export interface IptablesRunnerOptions {
  /** `iptables` (default), or e.g. `iptables-legacy`; `<binary>-restore` must exist beside it. */
  binary?: string;
  /** How long to wait for the xtables lock another writer (kube-proxy, a CNI) holds. */
  lockWaitSeconds?: number;
}

/** The iptables and ip6tables of one backend (options.ts). */
export function backendBinaries(backend: 'path' | 'nft' | 'legacy'): { iptables: string; ip6tables: string } {
  const suffix = backend === 'path' ? '' : `-${backend}`;
  return { iptables: `iptables${suffix}`, ip6tables: `ip6tables${suffix}` };
}

/** An iptables command that could not even be started (binary missing, not executable). */
export class IptablesUnavailableError extends Error {
  constructor(binary: string, cause: unknown) {
    super(`cannot run ${binary}: ${cause instanceof Error ? cause.message : String(cause)} (is iptables installed and on PATH?)`);
    this.name = 'IptablesUnavailableError';
  }
}

export function createIptablesRunner(options: IptablesRunnerOptions = {}): IptablesRunner {
  const binary = options.binary ?? 'iptables';
  const wait = ['-w', String(options.lockWaitSeconds ?? 10)];
  return {
    run: (args) => execute(binary, [...wait, ...args], undefined),
    restore: (input) => execute(`${binary}-restore`, [...wait, '--noflush'], input),
  };
}

function execute(binary: string, args: string[], input: string | undefined): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => reject(new IptablesUnavailableError(binary, error)));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    // A binary that exits before reading stdin would otherwise fail the write with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}
