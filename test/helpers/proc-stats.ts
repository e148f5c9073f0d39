import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Clock ticks per second of /proc's CPU times: the kernel reports them in USER_HZ, which is 100
 * on x86 and arm64 whatever the kernel's own HZ (what `getconf CLK_TCK` prints there).
 */
const USER_HZ = 100;

/** User plus system CPU time a process has used so far, in seconds (/proc/<pid>/stat utime and stime). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name, field 2, is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** The inodes of the sockets process `pid` holds open (its /proc/<pid>/fd links "socket:[inode]"). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes; // the process has exited
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
    } catch {
      // closed while we read the directory
    }
  }
  return inodes;
}

/**
 * TCP connections in state ESTABLISHED from processes `pids` to `remotePort` (on any address),
 * from /proc/net/tcp and tcp6 matched to the processes' socket inodes.
 */
export function establishedConnections(pids: readonly number[], remotePort: number): number {
  const ours = new Set(pids.flatMap((pid) => [...socketInodes(pid)]));
  const port = remotePort.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const [, , remote, state, , , , , , inode] = fields;
      if (state === '01' && remote?.endsWith(`:${port}`) && inode !== undefined && ours.has(inode)) count++;
    }
  }
  return count;
}
