import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { stopChild } from './stop-child.js';

const execFileAsync = promisify(execFile);

/** Every namespace a test makes is named `<prefix>-<pid>-<role>`: unique per run, findable after a crash. */
const NETNS_PREFIX = 'corridor-e2e';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface NetnsProcess {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Sends SIGTERM and resolves with the exit code once it has exited (SIGKILL after 5 s). */
  stop(): Promise<number | null>;
}

/**
 * Network namespaces for one test run, and the processes started in them. All changes to
 * interfaces, routes, sysctls and iptables happen inside these namespaces, never in the
 * machine's own: commands go through `ip -n <ns>` or `ip netns exec <ns>`. destroy() stops the
 * processes and deletes the namespaces (their interfaces and rules go with them).
 */
export class NetnsLab {
  readonly runId = `${NETNS_PREFIX}-${process.pid}`;
  private readonly namespaces: string[] = [];
  private readonly processes: NetnsProcess[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** Creates `<runId>-<role>` with its loopback up. */
  async add(role: string): Promise<string> {
    const name = `${this.runId}-${role}`;
    await execFileAsync('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await this.ip(name, 'link', 'set', 'lo', 'up');
    return name;
  }

  /** `ip -n <ns> <args>`; throws with ip's message on failure. */
  async ip(netns: string, ...args: string[]): Promise<void> {
    try {
      await execFileAsync('ip', ['-n', netns, ...args]);
    } catch (error) {
      throw new Error(`ip -n ${netns} ${args.join(' ')}: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`);
    }
  }

  /** Runs a command inside the namespace to completion; never throws for a non-zero exit. */
  async exec(netns: string, command: readonly string[], extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<ExecResult> {
    const [file, ...args] = command;
    try {
      const { stdout, stderr } = await execFileAsync('ip', ['netns', 'exec', netns, file as string, ...args], { env: { ...this.env, ...extraEnv }, timeout: timeoutMs });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failure = error as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
      if (typeof failure.code !== 'number' && !failure.killed) throw error;
      return { code: typeof failure.code === 'number' ? failure.code : 124, stdout: failure.stdout ?? '', stderr: `${failure.stderr ?? ''}${failure.killed ? `\n(killed after ${timeoutMs} ms)` : ''}` };
    }
  }

  /**
   * Starts a long-running command inside the namespace and resolves once `ready` accepts one of
   * its stdout lines. `ip netns exec` execs the command, so the child's pid is the command's own.
   */
  async start(netns: string, command: readonly string[], ready: (line: string) => boolean, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<NetnsProcess> {
    const [file, ...args] = command;
    const child = spawn('ip', ['netns', 'exec', netns, file as string, ...args], { env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let output = '';
    let partial = '';
    const started: NetnsProcess = {
      child,
      lines,
      output: () => output,
      stop: () => stopChild(child),
    };
    this.processes.push(started);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command.join(' ')} in ${netns} was not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          lines.push(line);
          if (ready(line)) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${command.join(' ')} in ${netns} exited with ${code} before it was ready:\n${output}`));
      });
    });
    return started;
  }

  /**
   * Also deletes the namespaces if this process exits without running teardowns (an uncaught
   * error); a crash that skips even this is cleaned by the next run's removeLeftoverNamespaces().
   */
  destroyOnExit(): void {
    process.once('exit', () => {
      for (const name of this.namespaces) {
        try {
          execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
        } catch {
          // best effort while exiting
        }
      }
    });
  }

  /** Stops every process this lab started, then deletes its namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all(this.processes.splice(0).map((p) => p.stop()));
    for (const name of this.namespaces.splice(0).reverse()) await deleteNamespace(name);
  }
}

/**
 * Deletes namespaces a crashed earlier run left behind (its pid is gone), with any process still
 * inside them. Namespaces of a run that is still going are left alone.
 */
export async function removeLeftoverNamespaces(): Promise<string[]> {
  const { stdout } = await execFileAsync('ip', ['netns', 'list']);
  const removed: string[] = [];
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const owner = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
    if (!owner || isAlive(Number(owner[1]))) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

async function deleteNamespace(name: string): Promise<void> {
  // A process left inside would keep the namespace (and its iptables rules) alive after the name is gone.
  const { stdout } = await execFileAsync('ip', ['netns', 'pids', name]).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await execFileAsync('ip', ['netns', 'del', name]).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
