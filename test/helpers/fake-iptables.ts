import type { CommandResult, IptablesRunner } from '../../src/iptables/index.js';

const BUILTIN_CHAINS = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];
const BUILTIN_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']);

type Chains = Map<string, string[][]>;

/**
 * A model of iptables' nat table behind the IptablesRunner seam: the state changes as the real
 * one does (-N/-A/-I/-D/-F/-X, -C, -S, iptables-restore --noflush), with its exit codes (1 for
 * "no such rule/chain", 2 for bad parameters, 4 for a busy chain), so tests check what install,
 * check and remove leave behind rather than which commands they sent. Rules compare as argument
 * lists: corridor always writes a rule the same way, so that is as good as iptables' own
 * comparison here.
 */
export class FakeIptables implements IptablesRunner {
  chains: Chains = new Map(BUILTIN_CHAINS.map((name) => [name, []]));
  /** Every command, `iptables-restore` input included, in order. */
  readonly calls: string[][] = [];
  /** The nat table after each change, oldest first. */
  readonly history: string[] = [];
  /** Makes the next matching call fail with this result, as a broken iptables would. */
  failures: Array<{ match: (args: readonly string[]) => boolean; result: CommandResult }> = [];

  constructor(initial?: string) {
    if (initial !== undefined) {
      const result = this.applyRestore(initial, this.chains);
      if (result.code !== 0) throw new Error(`fake-iptables: bad initial state: ${result.stderr}`);
    }
  }

  /** Changes made so far (each applied command or restore counts once). */
  get changes(): number {
    return this.history.length;
  }

  async run(args: readonly string[]): Promise<CommandResult> {
    this.calls.push([...args]);
    const injected = this.takeFailure(args);
    if (injected) return injected;
    const [t, table, op, chain, ...rest] = args;
    if (t !== '-t' || table !== 'nat' || op === undefined || chain === undefined) return fail(2, `fake-iptables: unsupported call ${args.join(' ')}`);
    const rules = this.chains.get(chain);
    switch (op) {
      case '-S':
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        return ok([BUILTIN_CHAINS.includes(chain) ? `-P ${chain} ACCEPT` : `-N ${chain}`, ...rules.map((r) => `-A ${chain} ${r.join(' ')}`)].join('\n') + '\n');
      case '-C': {
        const invalid = this.invalidRule(rest);
        if (invalid) return invalid;
        if (!rules || indexOf(rules, rest) === -1) return fail(1, 'iptables: Bad rule (does a matching rule exist in that chain?).');
        return ok();
      }
      case '-A':
      case '-I': {
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        const position = op === '-I' && /^\d+$/.test(rest[0] ?? '') ? Number(rest.shift()) : op === '-I' ? 1 : rules.length + 1;
        const invalid = this.invalidRule(rest);
        if (invalid) return invalid;
        if (position < 1 || position > rules.length + 1) return fail(1, 'iptables: Index of insertion too big.');
        rules.splice(position - 1, 0, [...rest]);
        return this.changed();
      }
      case '-D': {
        const index = rules ? indexOf(rules, rest) : -1;
        if (!rules || index === -1) return fail(1, 'iptables: Bad rule (does a matching rule exist in that chain?).');
        rules.splice(index, 1);
        return this.changed();
      }
      case '-N':
        if (rules) return fail(1, 'iptables: Chain already exists.');
        this.chains.set(chain, []);
        return this.changed();
      case '-F':
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        rules.length = 0;
        return this.changed();
      case '-X':
        if (!rules || BUILTIN_CHAINS.includes(chain)) return fail(1, 'iptables: No chain/target/match by that name.');
        if (this.referenced(chain)) return fail(4, `iptables: CHAIN_DEL failed (Device or resource busy): chain ${chain}`);
        if (rules.length > 0) return fail(1, 'iptables: Directory not empty.');
        this.chains.delete(chain);
        return this.changed();
      default:
        return fail(2, `fake-iptables: unsupported operation ${op}`);
    }
  }

  async restore(input: string): Promise<CommandResult> {
    this.calls.push(['iptables-restore', '--noflush', input]);
    const injected = this.takeFailure(['iptables-restore', input]);
    if (injected) return injected;
    // All or nothing, as iptables-restore commits one transaction.
    const next: Chains = new Map([...this.chains].map(([name, rules]) => [name, rules.map((r) => [...r])]));
    const result = this.applyRestore(input, next);
    if (result.code !== 0) return result;
    this.chains = next;
    return this.changed();
  }

  /** The nat table in iptables-save's shape: a stable text to compare states by. */
  save(): string {
    const lines = ['*nat'];
    for (const name of this.chains.keys()) lines.push(`:${name} ${BUILTIN_CHAINS.includes(name) ? 'ACCEPT' : '-'} [0:0]`);
    for (const [name, rules] of this.chains) for (const rule of rules) lines.push(`-A ${name} ${rule.join(' ')}`);
    return [...lines, 'COMMIT'].join('\n');
  }

  rules(chain: string): string[][] | undefined {
    return this.chains.get(chain)?.map((r) => [...r]);
  }

  private applyRestore(input: string, chains: Chains): CommandResult {
    const lines = input.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (lines[0] !== '*nat' || lines.at(-1) !== 'COMMIT') return fail(2, 'iptables-restore: expected one *nat table ending in COMMIT');
    for (const line of lines.slice(1, -1)) {
      const declaration = /^:(\S+) (\S+) \[\d+:\d+\]$/.exec(line);
      if (declaration) {
        // --noflush: a declared chain is created, or emptied when it exists.
        const name = declaration[1] as string;
        if (BUILTIN_CHAINS.includes(name)) continue;
        chains.set(name, []);
        continue;
      }
      const [op, chain, ...rule] = line.split(/\s+/);
      const rules = chain === undefined ? undefined : chains.get(chain);
      if (op !== '-A' || !rules) return fail(1, `iptables-restore: line failed: ${line}`);
      const invalid = this.invalidRule(rule, chains);
      if (invalid) return invalid;
      rules.push(rule);
    }
    return ok();
  }

  /** What real iptables refuses before looking at the table: DNAT to a port without -p tcp, a jump to a missing chain. */
  private invalidRule(rule: readonly string[], chains: Chains = this.chains): CommandResult | undefined {
    const target = rule[rule.indexOf('-j') + 1];
    if (rule.indexOf('-j') === -1 || target === undefined) return fail(2, 'fake-iptables: a rule without -j');
    if (target === 'DNAT' && /:\d+$/.test(rule[rule.indexOf('--to-destination') + 1] ?? '') && !rule.join(' ').includes('-p tcp')) {
      return fail(2, 'iptables v1.8.9 (nf_tables): Need TCP, UDP, SCTP or DCCP with port specification');
    }
    if (!BUILTIN_TARGETS.has(target) && !chains.has(target)) return fail(2, `iptables v1.8.9 (nf_tables): Chain '${target}' does not exist`);
    return undefined;
  }

  private referenced(chain: string): boolean {
    for (const rules of this.chains.values()) for (const rule of rules) if (rule[rule.indexOf('-j') + 1] === chain) return true;
    return false;
  }

  private takeFailure(args: readonly string[]): CommandResult | undefined {
    const index = this.failures.findIndex((f) => f.match(args));
    if (index === -1) return undefined;
    return this.failures.splice(index, 1)[0]?.result;
  }

  private changed(): CommandResult {
    this.history.push(this.save());
    return ok();
  }
}

function indexOf(rules: readonly string[][], rule: readonly string[]): number {
  return rules.findIndex((r) => r.length === rule.length && r.every((arg, i) => arg === rule[i]));
}

function ok(stdout = ''): CommandResult {
  return { code: 0, stdout, stderr: '' };
}

function fail(code: number, stderr: string): CommandResult {
  return { code, stdout: '', stderr: `${stderr}\n` };
}
