import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * `corridor agent` as the image runs it: its own process, started from a built CLI
 * (`dist/src/cli/corridor.js` of this checkout, or of another build to compare with), with
 * static keys so the SDK never looks for the node's identity. CPU comes from /proc.
 */
export class AgentProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly adminUrl: string,
    /** The agent's own uptime when it opened the metadata port: process start (Node's boot included) to serving. */
    readonly uptimeMs: number,
  ) {}

  /** `env` is added to this process's environment (e.g. MALLOC_ARENA_MAX); `cwd` is where heap snapshots land. */
  static async start(cli: string, args: readonly string[], nodeOptions: readonly string[], extra: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<AgentProcess> {
    const child = spawn(process.execPath, [...nodeOptions, cli, 'agent', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // No successor ever comes in a bench: stop at once on SIGTERM (--handover-timeout 0).
      env: { ...process.env, ...extra.env, AWS_ACCESS_KEY_ID: 'AKIABENCHNODEROLE000', AWS_SECRET_ACCESS_KEY: 'bench-node-secret', AWS_REGION: 'us-east-1', CORRIDOR_HANDOVER_TIMEOUT: '0' },
      ...(extra.cwd !== undefined ? { cwd: extra.cwd } : {}),
    });
    const lines = createInterface({ input: child.stdout });
    const ready = await new Promise<{ imds: string; admin: string; uptimeMs: number }>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${cli} agent exited early (${code})`)));
      lines.on('line', (line) => {
        if (!line.includes('corridor agent listening')) return;
        const fields = JSON.parse(line) as { imds: string; admin: string; uptimeMs: number };
        resolve(fields);
      });
    });
    child.removeAllListeners('exit');
    // Keep reading its log so it never blocks on a full pipe.
    lines.on('line', () => undefined);
    return new AgentProcess(child, ready.imds, ready.admin, ready.uptimeMs);
  }

  /** User + system CPU so far, microseconds (Linux /proc; clock ticks are 100 Hz). */
  cpuMicros(): number {
    const fields = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends a signal (e.g. the one of --heapsnapshot-signal). */
  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  rssBytes(): number {
    const pages = Number(readFileSync(`/proc/${this.child.pid}/statm`, 'utf8').split(' ')[1]);
    return pages * 4096;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
