import { chmod, chown, mkdir } from 'node:fs/promises';
import { AGENT_FLAGS, pickFlags, type FlagSpec } from '../config/index.js';
import { MAX_TOKEN_TTL_SECONDS } from '../imds-protocol/index.js';
import { openTokenKeyStore, RETIRED_KEY_GRACE_MS, RELOAD_EVERY_MS } from '../imds-token/index.js';
import { createLogger } from '../log/index.js';
import { systemClock, systemScheduler } from '../time/index.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const FLAGS = [
  ...pickFlags(AGENT_FLAGS, ['token-key-dir']),
  { name: 'owner', kind: 'string', help: 'prepare: the agent\'s uid:gid, who gets the directory (e.g. 65532:65532)' },
] as const satisfies readonly FlagSpec[];

/** `uid:gid`, both numeric: the image has no user database to look names up in. */
function parseOwner(text: string | undefined, errors: string[]): { uid: number; gid: number } {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(text ?? '');
  if (match === null) {
    errors.push(text === undefined ? 'prepare needs --owner uid:gid (or CORRIDOR_OWNER)' : `--owner: "${text}" is not uid:gid (numbers)`);
    return { uid: -1, gid: -1 };
  }
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

/**
 * `corridor token-key rotate|status`: run on the node, in the agent's container
 * (kubectl exec ds/corridor -- ...), with the agent's CORRIDOR_TOKEN_KEY_DIR. `prepare` is the
 * DaemonSet's first init container (root with CHOWN and FOWNER only): the directory the kubelet
 * made becomes the agent's, 0700; the agent creates and checks the key files itself.
 */
export const tokenKeyCommand = defineCommand({
  name: 'token-key',
  actions: ['rotate', 'status', 'prepare'],
  flags: FLAGS,
  details: `  rotate   write a new signing key; agents on this node sign with it within ${RELOAD_EVERY_MS / 1000} s and keep
           accepting tokens of the previous key for ${MAX_TOKEN_TTL_SECONDS / 3600} h + ${RETIRED_KEY_GRACE_MS / 60_000} min, then delete it
  status   show the key files and which key signs
  prepare  make the directory (created if missing) the agent's, --owner uid:gid, mode 0700`,
  input: ({ values, action }, errors) => {
    // Empty (flag or CORRIDOR_TOKEN_KEY_DIR) means no directory, as for the agent: nothing to rotate.
    if (values.tokenKeyDir === '') errors.push('--token-key-dir (or CORRIDOR_TOKEN_KEY_DIR) names no directory');
    const owner = action === 'prepare' ? parseOwner(values.owner, errors) : undefined;
    return { action, dir: values.tokenKeyDir, owner };
  },
  async run({ action, dir, owner }, io) {
    if (owner !== undefined) {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chown(dir, owner.uid, owner.gid);
        await chmod(dir, 0o700);
      } catch (error) {
        io.err(`corridor token-key prepare: ${error instanceof Error ? error.message : String(error)}`);
        return EXIT.no;
      }
      io.out(`token key directory ${dir}: owner ${owner.uid}:${owner.gid}, mode 0700`);
      return EXIT.ok;
    }
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
