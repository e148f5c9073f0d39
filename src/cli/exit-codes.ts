/**
 * The exit codes of every corridor command, one table (printed by `corridor --help`, and in
 * docs/cli.md): a script can tell "the answer is no" from "could not ask" from "asked wrongly".
 */
export const EXIT = { ok: 0, no: 1, usage: 2, cluster: 3 } as const;

const MEANING: Readonly<Record<keyof typeof EXIT, string>> = {
  ok: 'done: allowed (explain), no findings (audit), rules as install leaves them (iptables check)',
  no: 'the answer is no, or the work failed: denied (explain), findings (audit), a problem found or iptables failed, an unusable key directory (token-key)',
  usage: 'bad flags or configuration (one line naming every problem)',
  cluster: 'could not ask the API server: kubeconfig not loaded, server refusing, unreachable or too slow',
};

export const EXIT_CODE_TABLE = [
  'exit codes (every command):',
  ...(Object.keys(EXIT) as (keyof typeof EXIT)[]).map((name) => `  ${EXIT[name]}  ${MEANING[name]}`),
].join('\n');
