#!/usr/bin/env node
import { EXIT, EXIT_CODE_TABLE } from './exit-codes.js';

interface CommandEntry {
  name: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

// Commands load on demand: the init container's `iptables install` should not pay for the
// agent's AWS SDK and Kubernetes client. Each runs through the one runner (command.ts).
const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'agent',
    summary: 'run the node-local metadata proxy (the DaemonSet\'s container)',
    run: async (argv) => (await import('./agent.js')).runAgentCommand(argv),
  },
  {
    name: 'probe',
    summary: 'exit 0 once this container\'s agent serves the metadata port (the DaemonSet\'s startup probe)',
    run: async (argv) => (await import('./probe.js')).runProbeCommand(argv),
  },
  {
    name: 'explain',
    summary: 'show which role a pod gets and why, from a kubeconfig',
    run: async (argv) => (await import('./explain.js')).runExplainCommand(argv),
  },
  {
    name: 'audit',
    summary: 'every namespace\'s corridor and pod\'s role, and what is not isolated or not served (exit 1)',
    run: async (argv) => (await import('./audit.js')).runAuditCommand(argv),
  },
  {
    name: 'demo',
    summary: 'run the agent against a local cluster and STS stand-in and fetch credentials through it',
    run: async (argv) => (await import('./demo.js')).runDemoCommand(argv),
  },
  {
    name: 'iptables',
    summary: 'install, check or remove the node\'s rules sending pods\' metadata traffic to the agent',
    run: async (argv) => (await import('./iptables.js')).runIptablesCommand(argv),
  },
  {
    name: 'token-key',
    summary: 'rotate or show the node\'s IMDSv2 token signing keys (in the agent\'s container)',
    run: async (argv) => (await import('./token-key.js')).runTokenKeyCommand(argv),
  },
];

const HELP = `usage: corridor <command> [flags]

commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(11)}${command.summary}`).join('\n')}

Each command takes --help.

${EXIT_CODE_TABLE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === command);
  if (entry === undefined) {
    process.stderr.write(`corridor: unknown command "${command}"\n${HELP}\n`);
    return EXIT.usage;
  }
  return entry.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`corridor: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.no;
  },
);
