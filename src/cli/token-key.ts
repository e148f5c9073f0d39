import { AGENT_FLAGS, parseFlags, usage, type FlagSpec } from '../config/index.js';
import { MAX_TOKEN_TTL_SECONDS } from '../imds-protocol/index.js';
import { openTokenKeyStore, RETIRED_KEY_GRACE_MS, RELOAD_EVERY_MS } from '../imds-token/index.js';
import { createLogger } from '../log/index.js';
import { systemClock, systemScheduler } from '../time/index.js';
import { EXIT } from './exit-codes.js';

const FLAGS: readonly FlagSpec[] = AGENT_FLAGS.filter((flag) => flag.name === 'token-key-dir');
const HELP = `${usage('token-key rotate|status', FLAGS)}

  rotate   write a new signing key; agents on this node sign with it within ${RELOAD_EVERY_MS / 1000} s and keep
           accepting tokens of the previous key for ${MAX_TOKEN_TTL_SECONDS / 3600} h + ${RETIRED_KEY_GRACE_MS / 60_000} min, then delete it
  status   show the key files and which key signs`;

/**
 * `corridor token-key rotate|status`: run on the node, in the agent's container
 * (kubectl exec ds/corridor -- ...), with the agent's CORRIDOR_TOKEN_KEY_DIR.
 */
export async function runTokenKeyCommand(argv: string[]): Promise<number> {
  const { values, errors, help, positionals } = parseFlags(FLAGS, argv, process.env);
  const [action, ...extra] = positionals;
  if (help) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  if (action !== 'rotate' && action !== 'status') errors.push(action === undefined ? 'rotate or status?' : `unknown action "${action}"`);
  if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  // An empty CORRIDOR_TOKEN_KEY_DIR means no directory, as for the agent (not the flag default).
  const emptyEnv = process.env.CORRIDOR_TOKEN_KEY_DIR === '' && !argv.some((a) => a.startsWith('--token-key-dir'));
  const dir = emptyEnv ? undefined : (values.get('token-key-dir') as string | undefined);
  if (!dir) errors.push('--token-key-dir (or CORRIDOR_TOKEN_KEY_DIR) names no directory');
  if (errors.length > 0) {
    process.stderr.write(`corridor token-key: ${errors.join('; ')}\n${HELP}\n`);
    return EXIT.usage;
  }
  // Warnings (an unusable file, wrong permissions) go to stderr; the result to stdout.
  const logger = createLogger('warn', process.stderr);
  const store = await openTokenKeyStore({ dir, clock: systemClock, scheduler: systemScheduler, logger });
  try {
    if (store.source() === 'memory') {
      process.stderr.write(`corridor token-key: cannot use ${dir as string} (see the warning above)\n`);
      return EXIT.no;
    }
    if (action === 'rotate') {
      const key = await store.rotate();
      process.stdout.write(`token key rotated in ${dir as string}: key-${key.id} signs; agents switch within ${RELOAD_EVERY_MS / 1000} s\n`);
    }
    const [signing, ...accepted] = store.keyIds();
    process.stdout.write(`signing: key-${signing ?? '?'}; also accepted: ${accepted.map((id) => `key-${id}`).join(', ') || 'none'}\n`);
    return EXIT.ok;
  } finally {
    store.close();
  }
}
