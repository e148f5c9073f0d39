import { spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../src/cli/corridor.ts', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves once the agent serves: its first lists in, the metadata port open. */
  serving: Promise<void>;
  /** Resolves once the agent's output (so far or later) includes `text`, a log message. */
  logged: (text: string) => Promise<void>;
}

export interface AgentProcessSettings {
  port: number;
  adminPort: number;
  kubeconfig: string;
  stsUrl: string;
  /** CORRIDOR_TOKEN_KEY_DIR; default '' (a memory key), never the machine's /var/lib/corridor. */
  tokenKeyDir?: string;
  /** More `corridor agent` flags (--require-imdsv2, session timings). */
  flags?: readonly string[];
  /** What runs `corridor` (program and arguments, before `agent`); default this Node on src/cli/corridor.ts. */
  command?: readonly string[];
}

/** `corridor agent` as its own process, configured through CORRIDOR_* like the DaemonSet does. */
export function spawnAgent(t: Test, settings: AgentProcessSettings): AgentProcess {
  const [program, ...args] = settings.command ?? [process.execPath, ...process.execArgv, ENTRY];
  const child = spawn(program as string, [...args, 'agent', ...(settings.flags ?? [])], {
    env: {
      PATH: process.env.PATH,
      TS_NODE_TRANSPILE_ONLY: '1',
      CORRIDOR_NODE_NAME: 'node-a',
      CORRIDOR_HOST_IP: '127.0.0.1',
      CORRIDOR_PORT: String(settings.port),
      CORRIDOR_ADMIN_HOST: '127.0.0.1',
      CORRIDOR_ADMIN_PORT: String(settings.adminPort),
      CORRIDOR_KUBECONFIG: settings.kubeconfig,
      CORRIDOR_BASE_ROLE_ARN: 'arn:aws:iam::123456789012:role/',
      CORRIDOR_STS_ENDPOINT: settings.stsUrl,
      CORRIDOR_PASSTHROUGH_PATHS: '',
      CORRIDOR_IMDS_UPSTREAM: 'http://127.0.0.1:9',
      CORRIDOR_TOKEN_KEY_DIR: settings.tokenKeyDir ?? '',
      // One agent at a time unless a test starts a successor (and gives --handover-timeout): stop at once.
      CORRIDOR_HANDOVER_TIMEOUT: '0',
      // The agent's own identity from the default chain: static keys here, and never IMDS.
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let output = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  const logged = (text: string) => new Promise<void>((resolve) => (output.includes(text) ? resolve() : waiting.push({ text, resolve })));
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const w of waiting.filter((w) => output.includes(w.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  return { child, output: () => output, serving: logged('corridor agent listening'), logged };
}
