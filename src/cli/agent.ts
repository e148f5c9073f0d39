import { AGENT_FLAGS, agentConfig, type AgentConfig } from '../config/index.js';
import { createAgent } from '../main.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const agentCommand = defineCommand({
  name: 'agent',
  flags: AGENT_FLAGS,
  problemsAre: 'invalid configuration',
  input: agentConfig,
  run: runAgent,
});

/**
 * `corridor agent`: runs until SIGTERM/SIGINT; then keeps serving until a successor listens on the
 * metadata port (--handover-timeout at most), drains in-flight requests and exits 0.
 */
export async function runAgentCommand(argv: string[]): Promise<number> {
  return agentCommand.main(argv, processIo());
}

async function runAgent(config: Readonly<AgentConfig>): Promise<number> {
  const agent = await createAgent(config);
  const signal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  // A signal before the agent serves (its first lists still out) stops it without waiting.
  const listening = agent.listen();
  listening.catch(() => undefined);
  try {
    await Promise.race([listening, signal]);
  } catch (error) {
    await agent.close();
    throw error;
  }
  agent.logger.info({ signal: await signal }, 'shutting down');
  try {
    await agent.handOver();
    await agent.close();
    agent.logger.info('corridor agent stopped');
  } catch (error) {
    agent.logger.error({ err: error }, 'shutdown failed');
  }
  return EXIT.ok;
}
