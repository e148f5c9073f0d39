import {
  backendBinaries,
  checkIpv6Rules,
  checkRules,
  createIptablesRunner,
  describeIpv6,
  describeRedirect,
  installIpv6Rules,
  installRules,
  IPTABLES_ACTIONS,
  IPTABLES_FLAGS,
  iptablesOptions,
  removeIpv6Rules,
  removeRules,
  underIpv6Mode,
  type IptablesBackend,
  type IptablesRunner,
  type Ipv6Outcome,
  type RedirectTarget,
} from '../iptables/index.js';
import { defineCommand, processIo, type CommandIo } from './command.js';
import { EXIT } from './exit-codes.js';

export interface IptablesCommandIo extends CommandIo {
  /** iptables and, for fd00:ec2::254, ip6tables of the chosen backend. */
  runners(backend: IptablesBackend): { runner: IptablesRunner; runner6: IptablesRunner };
}

const defaultIo = (): IptablesCommandIo => ({
  ...processIo(),
  runners: (backend) => {
    const binaries = backendBinaries(backend);
    return { runner: createIptablesRunner({ binary: binaries.iptables }), runner6: createIptablesRunner({ binary: binaries.ip6tables }) };
  },
});

/**
 * `corridor iptables install|check|remove`: the init container's command. Exits 0 when done (or
 * when the rules are in place, for check), 1 when check finds a problem or iptables fails, 2 on
 * bad flags.
 */
export const iptablesCommand = defineCommand({
  name: 'iptables',
  actions: IPTABLES_ACTIONS,
  flags: IPTABLES_FLAGS,
  details: `install  sends pods' 169.254.169.254:80 (and [fd00:ec2::254]:80) traffic to the agent (idempotent)
check    exits 1 unless the rules are exactly as install leaves them
remove   deletes corridor's jump and chain: pods reach the node's metadata service again`,
  input: ({ action, values }, errors) => iptablesOptions(action, values, errors),
  async run(options, io: IptablesCommandIo) {
    const prefix = `corridor iptables ${options.action}`;
    const { runner, runner6 } = io.runners(options.backend);
    const hostIpv6 = options.action === 'remove' ? undefined : options.target.hostIpv6;
    // IPv4 first, as before; the IPv6 part cannot open anything the IPv4 part closed.
    const ipv6 = (work: () => Promise<string[]>) => underIpv6Mode(options.ipv6, hostIpv6, work);
    const warn = (outcome: Ipv6Outcome) => {
      if (!outcome.managed && outcome.warning) io.err(`${prefix}: WARNING: ${outcome.reason}`);
    };
    try {
      switch (options.action) {
        case 'install': {
          const changes = await installRules(runner, options.target);
          const outcome = await ipv6(() => installIpv6Rules(runner6, options.target));
          warn(outcome);
          const all = [...changes, ...(outcome.managed ? outcome.lines : [])];
          io.out(all.length > 0 ? `${prefix}: ${all.join('; ')}` : `${prefix}: already in place, nothing changed (${summary(options.target, outcome)})`);
          return EXIT.ok;
        }
        case 'check': {
          const problems = await checkRules(runner, options.target);
          const outcome = await ipv6(() => checkIpv6Rules(runner6, options.target));
          warn(outcome);
          problems.push(...(outcome.managed ? outcome.lines : []));
          if (problems.length === 0) {
            io.out(`${prefix}: ok (${summary(options.target, outcome)})`);
            return EXIT.ok;
          }
          io.err(`${prefix}: FAILED: ${problems.join('; ')}`);
          return EXIT.no;
        }
        case 'remove': {
          const removed = await removeRules(runner);
          const outcome = await ipv6(() => removeIpv6Rules(runner6));
          warn(outcome);
          const all = [...removed, ...(outcome.managed ? outcome.lines : [])];
          io.out(all.length > 0 ? `${prefix}: ${all.join('; ')}` : `${prefix}: nothing of corridor's was installed`);
          return EXIT.ok;
        }
      }
    } catch (error) {
      io.err(`${prefix}: ${error instanceof Error ? error.message : String(error)}`);
      return EXIT.no;
    }
  },
});

export async function runIptablesCommand(argv: string[], io: IptablesCommandIo = defaultIo()): Promise<number> {
  return iptablesCommand.main(argv, io);
}

function summary(target: RedirectTarget, ipv6: Ipv6Outcome): string {
  const ipv4 = target.interfaces.map((pattern) => describeRedirect(target, pattern)).join(', ');
  const ipv6Text = ipv6.managed ? target.interfaces.map((pattern) => describeIpv6(target, pattern)).join(', ') : 'not managed';
  return `${ipv4}; IPv6 ${ipv6Text}`;
}
