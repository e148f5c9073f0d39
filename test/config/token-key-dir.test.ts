import t from 'tap';
import { parseAgentConfig } from '../../src/config/index.js';

const REQUIRED = ['--node-name', 'node-a', '--host-ip', '127.0.0.1'];
const dirOf = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = parseAgentConfig([...REQUIRED, ...argv], env);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.config.tokenKeyDir;
};

t.test('--token-key-dir defaults to /var/lib/corridor; an empty flag or CORRIDOR_TOKEN_KEY_DIR means a memory key', async (t) => {
  t.equal(dirOf([]), '/var/lib/corridor');
  t.equal(dirOf([], { CORRIDOR_TOKEN_KEY_DIR: '/srv/keys' }), '/srv/keys');
  t.equal(dirOf(['--token-key-dir', '']), undefined);
  t.equal(dirOf(['--token-key-dir=']), undefined);
  t.equal(dirOf([], { CORRIDOR_TOKEN_KEY_DIR: '' }), undefined, 'unlike other flags, an empty variable is not "unset"');
  t.equal(dirOf(['--token-key-dir', '/k'], { CORRIDOR_TOKEN_KEY_DIR: '' }), '/k', 'the flag wins');
});
