import { AGENT_FLAGS, parseAgentConfig, usage } from '../config/index.js';
import { startAgent } from '../main.js';
import { EXIT } from './exit-codes.js';

/** `corridor agent`: runs until SIGTERM/SIGINT, then drains in-flight requests and exits 0. */
export async function runAgentCommand(argv: string[]): Promise<number> {
  const result = parseAgentConfig(argv, process.env);
  if (!result.ok) {
    if (result.help) {
      process.stdout.write(`${usage('agent', AGENT_FLAGS)}\n`);
      return EXIT.ok;
    }
    process.stderr.write(`corridor agent: invalid configuration: ${result.errors.join('; ')}\n`);
    return EXIT.usage;
  }
  const agent = await startAgent(result.config);
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
