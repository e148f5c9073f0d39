/**
 * The exit codes of every corridor command, one table (printed by `corridor --help`, and in the
 * README): a script can tell "the answer is no" from "could not ask" from "asked wrongly".
 */
export const EXIT = {
  /** Done: allowed (explain), no findings (audit), the rules as install leaves them (iptables check). */
  ok: 0,
  /** The answer is no: denied (explain), findings (audit), a check found a problem or iptables failed. */
  no: 1,
  /** Bad flags or configuration: one line naming every problem. */
  usage: 2,
  /** Could not ask the API server: a kubeconfig that does not load, a server refusing, unreachable or too slow. */
  cluster: 3,
} as const;

export const EXIT_CODE_TABLE = `exit codes (every command):
  0  done: allowed (explain), no findings (audit), rules as install leaves them (iptables check)
  1  the answer is no: denied (explain), findings (audit), a problem found or iptables failed
  2  bad flags or configuration (one line naming every problem)
  3  could not ask the API server: kubeconfig not loaded, server refusing, unreachable or too slow`;
