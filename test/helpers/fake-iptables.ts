import type { CommandResult, IptablesRunner } from '../../src/iptables/index.js';

type Table = 'nat' | 'filter';
const BUILTIN: Record<Table, string[]> = { nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'], filter: ['INPUT', 'FORWARD', 'OUTPUT'] };
const TARGETS: Record<Table, Set<string>> = {
  nat: new Set(['ACCEPT', 'DROP', 'RETURN', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']),
  // REJECT is a filter target only: iptables refuses it in nat.
  filter: new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT']),
};

type Chains = Map<string, string[][]>;
const isTable = (name: string | undefined): name is Table => name === 'nat' || name === 'filter';
const builtinChains = (table: Table) => new Map(BUILTIN[table].map((name) => [name, []] as [string, string[][]]));

/**
 * A model of iptables' (or ip6tables') nat and filter tables behind the IptablesRunner seam: the state changes as the real
 * one does (-N/-A/-I/-D/-F/-X, -C, -S, iptables-restore --noflush), with its exit codes (1 for
 * "no such rule/chain", 2 for bad parameters, 4 for a busy chain), so tests check what install,
 * check and remove leave behind rather than which commands they sent. Rules compare as argument
 * lists: corridor always writes a rule the same way, so that is as good as iptables' own
 * comparison here.
 */
export class FakeIptables implements IptablesRunner {
  tables: Record<Table, Chains> = { nat: builtinChains('nat'), filter: builtinChains('filter') };
  /** The nat table's chains. */
  get chains(): Chains {
    return this.tables.nat;
  }
  /** Every command, `iptables-restore` input included, in order. */
  readonly calls: string[][] = [];
  /** The nat table after each change, oldest first. */
  readonly history: string[] = [];
  /** Makes the next matching call fail with this result, as a broken iptables would. */
  failures: Array<{ match: (args: readonly string[]) => boolean; result: CommandResult }> = [];

  constructor(initial?: string) {
    if (initial !== undefined) {
      const result = this.applyRestore(initial, this.tables);
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
    if (t !== '-t' || !isTable(table) || op === undefined || chain === undefined) return fail(2, `fake-iptables: unsupported call ${args.join(' ')}`);
    const chains = this.tables[table];
    const builtins = BUILTIN[table];
    const rules = chains.get(chain);
    switch (op) {
      case '-S':
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        return ok([builtins.includes(chain) ? `-P ${chain} ACCEPT` : `-N ${chain}`, ...rules.map((r) => `-A ${chain} ${r.join(' ')}`)].join('\n') + '\n');
      case '-C': {
        const invalid = this.invalidRule(rest, table);
        if (invalid) return invalid;
        if (!rules || indexOf(rules, rest) === -1) return fail(1, 'iptables: Bad rule (does a matching rule exist in that chain?).');
        return ok();
      }
      case '-A':
      case '-I': {
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        const position = op === '-I' && /^\d+$/.test(rest[0] ?? '') ? Number(rest.shift()) : op === '-I' ? 1 : rules.length + 1;
        const invalid = this.invalidRule(rest, table);
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
        chains.set(chain, []);
        return this.changed();
      case '-F':
        if (!rules) return fail(1, 'iptables: No chain/target/match by that name.');
        rules.length = 0;
        return this.changed();
      case '-X':
        if (!rules || builtins.includes(chain)) return fail(1, 'iptables: No chain/target/match by that name.');
        if (this.referenced(chains, chain)) return fail(4, `iptables: CHAIN_DEL failed (Device or resource busy): chain ${chain}`);
        if (rules.length > 0) return fail(1, 'iptables: Directory not empty.');
        chains.delete(chain);
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
    const copy = (chains: Chains): Chains => new Map([...chains].map(([name, rules]) => [name, rules.map((r) => [...r])]));
    const next = { nat: copy(this.tables.nat), filter: copy(this.tables.filter) };
    const result = this.applyRestore(input, next);
    if (result.code !== 0) return result;
    this.tables = next;
    return this.changed();
  }

  /**
   * The tables in iptables-save's shape: a stable text to compare states by. The filter table is
   * shown only once something was added to it, so a nat-only state reads as it always did.
   */
  save(): string {
    const lines: string[] = [];
    for (const table of ['nat', 'filter'] as const) {
      const chains = this.tables[table];
      const touched = [...chains].some(([name, rules]) => !BUILTIN[table].includes(name) || rules.length > 0);
      if (table === 'filter' && !touched) continue;
      lines.push(`*${table}`);
      for (const name of chains.keys()) lines.push(`:${name} ${BUILTIN[table].includes(name) ? 'ACCEPT' : '-'} [0:0]`);
      for (const [name, rules] of chains) for (const rule of rules) lines.push(`-A ${name} ${rule.join(' ')}`);
      lines.push('COMMIT');
    }
    return lines.join('\n');
  }

  rules(chain: string, table: Table = 'nat'): string[][] | undefined {
    return this.tables[table].get(chain)?.map((r) => [...r]);
  }

  private applyRestore(input: string, tables: Record<Table, Chains>): CommandResult {
    const lines = input.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const table = lines[0]?.slice(1);
    if (!lines[0]?.startsWith('*') || !isTable(table) || lines.at(-1) !== 'COMMIT') return fail(2, 'iptables-restore: expected one *nat or *filter table ending in COMMIT');
    const chains = tables[table];
    const builtins = BUILTIN[table];
    for (const line of lines.slice(1, -1)) {
      const declaration = /^:(\S+) (\S+) \[\d+:\d+\]$/.exec(line);
      if (declaration) {
        // --noflush: a declared chain is created, or emptied when it exists.
        const name = declaration[1] as string;
        if (builtins.includes(name)) continue;
        chains.set(name, []);
        continue;
      }
      const [op, chain, ...rule] = line.split(/\s+/);
      const rules = chain === undefined ? undefined : chains.get(chain);
      if (op !== '-A' || !rules) return fail(1, `iptables-restore: line failed: ${line}`);
      const invalid = this.invalidRule(rule, table, chains);
      if (invalid) return invalid;
      rules.push(rule);
    }
    return ok();
  }

  /** What real iptables refuses before looking at the table: DNAT to a port or a TCP reset without -p tcp, REJECT in nat, a jump to a missing chain. */
  private invalidRule(rule: readonly string[], table: Table, chains: Chains = this.tables[table]): CommandResult | undefined {
    const target = rule[rule.indexOf('-j') + 1];
    if (rule.indexOf('-j') === -1 || target === undefined) return fail(2, 'fake-iptables: a rule without -j');
    if (target === 'DNAT' && /:\d+$/.test(rule[rule.indexOf('--to-destination') + 1] ?? '') && !rule.join(' ').includes('-p tcp')) {
      return fail(2, 'iptables v1.8.9 (nf_tables): Need TCP, UDP, SCTP or DCCP with port specification');
    }
    if (target === 'REJECT' && rule.includes('tcp-reset') && !rule.join(' ').includes('-p tcp')) return fail(2, 'ip6tables v1.8.9 (nf_tables): TCP_RESET invalid for non-tcp');
    if (target === 'REJECT' && table === 'nat') return fail(2, 'iptables v1.8.9 (nf_tables): RULE_APPEND failed (Invalid argument): rule in chain CORRIDOR-IMDS (REJECT is valid in filter only)');
    if (!TARGETS[table].has(target) && !chains.has(target)) return fail(2, `iptables v1.8.9 (nf_tables): Chain '${target}' does not exist`);
    return undefined;
  }

  private referenced(chains: Chains, chain: string): boolean {
    for (const rules of chains.values()) for (const rule of rules) if (rule[rule.indexOf('-j') + 1] === chain) return true;
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
