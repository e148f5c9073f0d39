import { AGENT_FLAGS, pickFlags, type FlagSpec } from '../config/index.js';
import { listeningInodes, socketInodesOf } from '../net/index.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const PROBE_FLAGS = [
  ...pickFlags(AGENT_FLAGS, ['host-ip', 'port']),
  { name: 'pid', kind: 'integer', default: '1', help: 'the agent\'s process (1: the agent of the container the probe runs in)' },
] as const satisfies readonly FlagSpec[];

/**
 * `corridor probe`: exit 0 once the agent process listens on the metadata port, which it does only
 * when it can answer. The DaemonSet's startup probe, run in the agent's container: during an
 * upgrade two agents share the node's ports (SO_REUSEPORT), so an HTTP probe may be answered by
 * the other one; the kernel's socket table says which process listens.
 */
export const probeCommand = defineCommand({
  name: 'probe',
  flags: PROBE_FLAGS,
  input: ({ values }) => values,
  async run({ hostIp, port, pid }, io) {
    const own = socketInodesOf(pid);
    const serving = [...listeningInodes(hostIp, port)].some((inode) => own.has(inode));
    if (serving) io.out(`process ${pid} serves ${hostIp}:${port}`);
    else io.err(`process ${pid} does not listen on ${hostIp}:${port} (yet)`);
    return serving ? EXIT.ok : EXIT.no;
  },
});

export async function runProbeCommand(argv: string[]): Promise<number> {
  return probeCommand.main(argv, processIo());
}
