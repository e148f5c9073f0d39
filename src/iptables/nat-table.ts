import type { CommandResult, IptablesRunner } from './runner.js';
import { chainRestoreInput, natArgs } from './rules.js';

/** An iptables command that ran and failed for a reason other than "no such rule/chain". */
export class IptablesCommandError extends Error {
  constructor(readonly command: string, readonly result: CommandResult) {
    super(`${command} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim() || 'no output'}`);
    this.name = 'IptablesCommandError';
  }
}

/**
 * The few questions and changes install, check and remove need, over the injected runner. Exit
 * code 1 is iptables' "no such rule / chain" answer; anything else is a real failure and throws.
 */
export class NatTable {
  constructor(private readonly runner: IptablesRunner) {}

  /** The chain's rules as `iptables -S` prints them (`-A CHAIN ...` lines), or undefined when it does not exist. */
  async rulesOf(chain: string): Promise<string[] | undefined> {
    const args = natArgs.list(chain);
    const result = await this.runner.run(args);
    if (result.code === 1) return undefined;
    this.expectSuccess(args, result);
    return result.stdout.split('\n').filter((line) => line.startsWith('-A '));
  }

  async hasRule(chain: string, rule: readonly string[]): Promise<boolean> {
    const args = natArgs.check(chain, rule);
    const result = await this.runner.run(args);
    if (result.code === 1) return false;
    this.expectSuccess(args, result);
    return true;
  }

  async insertFirst(chain: string, rule: readonly string[]): Promise<void> {
    await this.mustRun(natArgs.insertFirst(chain, rule));
  }

  async deleteRule(chain: string, rule: readonly string[]): Promise<void> {
    await this.mustRun(natArgs.delete(chain, rule));
  }

  /** Creates or empties the chain and fills it with exactly these rules, atomically. */
  async replaceChain(chain: string, rules: readonly (readonly string[])[]): Promise<void> {
    const result = await this.runner.restore(chainRestoreInput(chain, rules));
    if (result.code !== 0) throw new IptablesCommandError(`iptables-restore --noflush (chain ${chain})`, result);
  }

  async deleteChain(chain: string): Promise<void> {
    await this.mustRun(natArgs.flush(chain));
    await this.mustRun(natArgs.deleteChain(chain));
  }

  private async mustRun(args: string[]): Promise<void> {
    this.expectSuccess(args, await this.runner.run(args));
  }

  private expectSuccess(args: readonly string[], result: CommandResult): void {
    if (result.code !== 0) throw new IptablesCommandError(`iptables ${args.join(' ')}`, result);
  }
}
