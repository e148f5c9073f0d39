#!/usr/bin/env node
import { EXIT, EXIT_CODE_TABLE } from './exit-codes.js';

// Commands load on demand: the init container's `iptables install` should not pay for the
// agent's AWS SDK and Kubernetes client.
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  agent: async (argv) => (await import('./agent.js')).runAgentCommand(argv),
  explain: async (argv) => (await import('./explain.js')).runExplainCommand(argv),
  audit: async (argv) => (await import('./audit.js')).runAuditCommand(argv),
  demo: async (argv) => (await import('./demo.js')).runDemoCommand(argv),
  iptables: async (argv) => (await import('./iptables.js')).runIptablesCommand(argv),
  'token-key': async (argv) => (await import('./token-key.js')).runTokenKeyCommand(argv),
};

const HELP = `usage: corridor <command> [flags]

commands:
  agent      run the node-local metadata proxy (the DaemonSet's container)
  explain    show which role a pod gets and why, from a kubeconfig
  audit      every namespace's corridor and pod's role, and what is not isolated or not served (exit 1)
  demo       run the agent against a local cluster and STS stand-in and fetch credentials through it
  iptables   install, check or remove the node's rules sending pods' metadata traffic to the agent
  token-key  rotate or show the node's IMDSv2 token signing keys (in the agent's container)

Each command takes --help.

${EXIT_CODE_TABLE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`corridor: unknown command "${command}"\n${HELP}\n`);
    return EXIT.usage;
  }
  return run(rest);
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
