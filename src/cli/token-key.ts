import { AGENT_FLAGS, pickFlags } from '../config/index.js';
import { MAX_TOKEN_TTL_SECONDS } from '../imds-protocol/index.js';
import { openTokenKeyStore, RETIRED_KEY_GRACE_MS, RELOAD_EVERY_MS } from '../imds-token/index.js';
import { createLogger } from '../log/index.js';
import { systemClock, systemScheduler } from '../time/index.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const FLAGS = pickFlags(AGENT_FLAGS, ['token-key-dir']);

/**
 * `corridor token-key rotate|status`: run on the node, in the agent's container
 * (kubectl exec ds/corridor -- ...), with the agent's CORRIDOR_TOKEN_KEY_DIR.
 */
export const tokenKeyCommand = defineCommand({
  name: 'token-key',
  actions: ['rotate', 'status'],
  flags: FLAGS,
  details: `  rotate   write a new signing key; agents on this node sign with it within ${RELOAD_EVERY_MS / 1000} s and keep
           accepting tokens of the previous key for ${MAX_TOKEN_TTL_SECONDS / 3600} h + ${RETIRED_KEY_GRACE_MS / 60_000} min, then delete it
  status   show the key files and which key signs`,
  input: ({ values, action }, errors) => {
    // Empty (flag or CORRIDOR_TOKEN_KEY_DIR) means no directory, as for the agent: nothing to rotate.
    if (values.tokenKeyDir === '') errors.push('--token-key-dir (or CORRIDOR_TOKEN_KEY_DIR) names no directory');
    return { action, dir: values.tokenKeyDir };
  },
  async run({ action, dir }, io) {
    // Warnings (an unusable file, wrong permissions) go to stderr; the result to stdout.
    const logger = createLogger('warn', process.stderr);
    const store = await openTokenKeyStore({ dir, clock: systemClock, scheduler: systemScheduler, logger });
    try {
      if (store.source() === 'memory') {
        io.err(`corridor token-key: cannot use ${dir} (see the warning above)`);
        return EXIT.no;
      }
      if (action === 'rotate') {
        const key = await store.rotate();
        io.out(`token key rotated in ${dir}: key-${key.id} signs; agents switch within ${RELOAD_EVERY_MS / 1000} s`);
      }
      const [signing, ...accepted] = store.keyIds();
      io.out(`signing: key-${signing ?? '?'}; also accepted: ${accepted.map((id) => `key-${id}`).join(', ') || 'none'}`);
      return EXIT.ok;
    } finally {
      store.close();
    }
  },
});

export async function runTokenKeyCommand(argv: string[]): Promise<number> {
  return tokenKeyCommand.main(argv, processIo());
}
