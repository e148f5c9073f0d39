import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest, ChildStats } from './protocol.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** A server child (bench/child.ts) and its IPC channel. */
export class ServerProcess {
  readonly url: string;
  readonly adminUrl: string | undefined;

  private constructor(private readonly child: ChildProcess, ready: { url: string; adminUrl?: string }) {
    this.url = ready.url;
    this.adminUrl = ready.adminUrl;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** `nodeOptions`, and BENCH_SERVER_NODE_OPTIONS (e.g. --cpu-prof), go to this child only. */
  static async start(request: ChildRequest, nodeOptions: readonly string[] = []): Promise<ServerProcess> {
    // stdout carries the agent's JSON log; nobody reads it here. stderr shows crashes.
    const execArgv = [...nodeOptions, ...(process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean)];
    const child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv });
    const ready = await new Promise<{ url: string; adminUrl?: string }>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`server child exited early (${code})`)));
      child.once('message', (reply: ChildReply) => {
        if (reply.type === 'ready') resolve(reply);
        else reject(new Error(reply.type === 'error' ? reply.message : `unexpected ${reply.type}`));
      });
      child.send(request);
    });
    child.removeAllListeners('exit');
    return new ServerProcess(child, ready);
  }

  stats(): Promise<ChildStats> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (reply: ChildReply) => {
        if (reply.type === 'stats') resolve(reply.stats);
        else reject(new Error(reply.type === 'error' ? reply.message : `unexpected ${reply.type}`));
      });
      this.child.send({ type: 'stats' } satisfies ChildRequest);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'stop' } satisfies ChildRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** CPU used by a process between two samples, as a share of one core. */
export function cpuShare(before: ChildStats, after: ChildStats): number {
  return (after.cpuMicros - before.cpuMicros) / 1000 / (after.at - before.at);
}
