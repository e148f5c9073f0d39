import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { isIPv4 } from 'node:net';

/**
 * Who listens where, from the kernel's own tables (/proc/net/tcp and tcp6 of the reader's network
 * namespace, /proc/<pid>/fd): how an agent sees that another agent of the node (its successor, in
 * an upgrade) listens on the metadata port beside it, and how a probe tells whether *this*
 * container's agent listens, which no request to the shared port can tell.
 */
export interface ProcFiles {
  readFile(path: string): string;
  readdir(path: string): string[];
  readlink(path: string): string;
}

const PROC: ProcFiles = {
  readFile: (path) => readFileSync(path, 'utf8'),
  readdir: (path) => readdirSync(path),
  readlink: (path) => readlinkSync(path),
};

/** TCP_LISTEN in the `st` column. */
const LISTEN = '0A';

/** The socket inodes listening on exactly `address`:`port` (IPv4 or IPv6), in this network namespace. */
export function listeningInodes(address: string, port: number, proc: ProcFiles = PROC): Set<string> {
  const v4 = isIPv4(address);
  const local = `${v4 ? hexIpv4(address) : hexIpv6(address)}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of proc.readFile(v4 ? '/proc/net/tcp' : '/proc/net/tcp6').split('\n').slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === LISTEN && fields[9] !== undefined) inodes.add(fields[9]);
  }
  return inodes;
}

/** The inodes of the sockets process `pid` holds open ('self': this process); none when it is gone or not ours to read. */
export function socketInodesOf(pid: number | 'self', proc: ProcFiles = PROC): Set<string> {
  const dir = `/proc/${pid}/fd`;
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = proc.readdir(dir);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(proc.readlink(`${dir}/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // closed between readdir and readlink
    }
  }
  return inodes;
}

/** The kernel prints an IPv4 address as one 32-bit word in host byte order (little-endian on amd64 and arm64). */
function hexIpv4(address: string): string {
  return address.split('.').reverse().map((octet) => Number(octet).toString(16).toUpperCase().padStart(2, '0')).join('');
}

/** ... and an IPv6 address as four such words. */
function hexIpv6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const known = [...groups(head), ...groups(tail)];
  const full = [...groups(head), ...Array<string>(8 - known.length).fill('0'), ...groups(tail)].map((group) => group.padStart(4, '0'));
  const bytes = full.join('').match(/../g) ?? [];
  const words: string[] = [];
  for (let i = 0; i < 16; i += 4) words.push(bytes.slice(i, i + 4).reverse().join(''));
  return words.join('').toUpperCase();
}
