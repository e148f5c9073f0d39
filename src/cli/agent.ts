import { AGENT_FLAGS, agentConfig, type AgentConfig } from '../config/index.js';
import { startAgent } from '../main.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const agentCommand = defineCommand({
  name: 'agent',
  flags: AGENT_FLAGS,
  problemsAre: 'invalid configuration',
  input: agentConfig,
  run: runAgent,
});

/** `corridor agent`: runs until SIGTERM/SIGINT, then drains in-flight requests and exits 0. */
export async function runAgentCommand(argv: string[]): Promise<number> {
  return agentCommand.main(argv, processIo());
}

async function runAgent(config: Readonly<AgentConfig>): Promise<number> {
  const agent = await startAgent(config);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      agent.logger.info({ signal }, 'shutting down');
      agent.close().then(() => {
        agent.logger.info('corridor agent stopped');
        resolve();
      }, (error: unknown) => {
        agent.logger.error({ err: error }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  return EXIT.ok;
}
