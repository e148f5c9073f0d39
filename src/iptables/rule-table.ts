import type { CommandResult, IptablesRunner } from './runner.js';
import { chainRestoreInput, tableArgs, type TableName } from './rules.js';

/** An iptables command that ran and failed for a reason other than "no such rule/chain". */
class IptablesCommandError extends Error {
  constructor(readonly command: string, readonly result: CommandResult) {
    super(`${command} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim() || 'no output'}`);
    this.name = 'IptablesCommandError';
  }
}

/**
 * The few questions and changes install, check and remove need of one table (nat, or filter for
 * the IPv6 REJECT), over the injected runner. Exit code 1 is iptables' "no such rule / chain"
 * answer; anything else is a real failure and throws. `binary` only names the command in errors.
 */
export class RuleTable {
  private readonly args: ReturnType<typeof tableArgs>;

  constructor(
    private readonly runner: IptablesRunner,
    readonly table: TableName = 'nat',
    private readonly binary = 'iptables',
  ) {
    this.args = tableArgs(table);
  }

  /** The chain's rules as `iptables -S` prints them (`-A CHAIN ...` lines), or undefined when it does not exist. */
  async rulesOf(chain: string): Promise<string[] | undefined> {
    const args = this.args.list(chain);
    const result = await this.runner.run(args);
    if (result.code === 1) return undefined;
    this.expectSuccess(args, result);
    return result.stdout.split('\n').filter((line) => line.startsWith('-A '));
  }

  async hasRule(chain: string, rule: readonly string[]): Promise<boolean> {
    const args = this.args.check(chain, rule);
    const result = await this.runner.run(args);
    if (result.code === 1) return false;
    this.expectSuccess(args, result);
    return true;
  }

  async insertFirst(chain: string, rule: readonly string[]): Promise<void> {
    await this.mustRun(this.args.insertFirst(chain, rule));
  }

  async deleteRule(chain: string, rule: readonly string[]): Promise<void> {
    await this.mustRun(this.args.delete(chain, rule));
  }

  /** Creates or empties the chain and fills it with exactly these rules, atomically. */
  async replaceChain(chain: string, rules: readonly (readonly string[])[]): Promise<void> {
    const result = await this.runner.restore(chainRestoreInput(chain, rules, this.table));
    const table = this.table === 'nat' ? '' : `${this.table} `;
    if (result.code !== 0) throw new IptablesCommandError(`${this.binary}-restore --noflush (${table}chain ${chain})`, result);
  }

  async deleteChain(chain: string): Promise<void> {
    await this.mustRun(this.args.flush(chain));
    await this.mustRun(this.args.deleteChain(chain));
  }

  private async mustRun(args: string[]): Promise<void> {
    this.expectSuccess(args, await this.runner.run(args));
  }

  private expectSuccess(args: readonly string[], result: CommandResult): void {
    if (result.code !== 0) throw new IptablesCommandError(`${this.binary} ${args.join(' ')}`, result);
  }
}
