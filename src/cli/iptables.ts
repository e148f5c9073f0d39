import { usage } from '../config/index.js';
import {
  checkRules,
  createIptablesRunner,
  describeRedirect,
  installRules,
  IPTABLES_FLAGS,
  parseIptablesOptions,
  removeRules,
  type IptablesRunner,
  type RedirectTarget,
} from '../iptables/index.js';

export interface IptablesCommandIo {
  runner: IptablesRunner;
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

const defaultIo = (): IptablesCommandIo => ({
  runner: createIptablesRunner(),
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

/**
 * `corridor iptables install|check|remove`: the init container's command. Exits 0 when done (or
 * when the rules are in place, for check), 1 when check finds a problem or iptables fails, 2 on
 * bad flags.
 */
export async function runIptablesCommand(argv: string[], io: IptablesCommandIo = defaultIo()): Promise<number> {
  const parsed = parseIptablesOptions(argv, io.env);
  if (!parsed.ok) {
    if (parsed.help) {
      io.out(`${usage('iptables install|check|remove', IPTABLES_FLAGS)}\n\ninstall  sends pods' 169.254.169.254:80 traffic to the agent (idempotent)\ncheck    exits 1 unless the rules are exactly as install leaves them\nremove   deletes corridor's jump and chain: pods reach the node's metadata service again`);
      return 0;
    }
    io.err(`corridor iptables: ${parsed.errors.join('; ')}`);
    return 2;
  }
  const { options } = parsed;
  const prefix = `corridor iptables ${options.action}`;
  try {
    switch (options.action) {
      case 'install': {
        const changes = await installRules(io.runner, options.target);
        io.out(changes.length > 0 ? `${prefix}: ${changes.join('; ')}` : `${prefix}: already in place, nothing changed (${summary(options.target)})`);
        return 0;
      }
      case 'check': {
        const problems = await checkRules(io.runner, options.target);
        if (problems.length === 0) {
          io.out(`${prefix}: ok (${summary(options.target)})`);
          return 0;
        }
        io.err(`${prefix}: FAILED: ${problems.join('; ')}`);
        return 1;
      }
      case 'remove': {
        const removed = await removeRules(io.runner);
        io.out(removed.length > 0 ? `${prefix}: ${removed.join('; ')}` : `${prefix}: nothing of corridor's was installed`);
        return 0;
      }
    }
  } catch (error) {
    io.err(`${prefix}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function summary(target: RedirectTarget): string {
  return target.interfaces.map((pattern) => describeRedirect(target, pattern)).join(', ');
}
