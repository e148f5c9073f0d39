import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { FakeKubeApi } from '../src/demo/index.js';
import { BASE_ROLE_ARN, CREDENTIALS_PATH, NODE } from './cluster.js';
import { get } from './load.js';
import { until } from './probe.js';

/**
 * kube2iam, the tool corridor replaces, under the same load on the same machine: built with
 * `go install` from its Go module into a cache outside the repository, pointed at the same
 * Kubernetes API and STS stand-ins on loopback. Its AWS SDK (aws-sdk-go v1) has no STS endpoint
 * setting, so STS traffic goes through a loopback HTTPS proxy of ours that terminates TLS for
 * sts*.amazonaws.com with a throwaway CA and forwards to the stand-in. The proxy refuses, and
 * aborts this part on, any other destination; a socket watcher does the same for any
 * non-loopback peer, so kube2iam can never reach the real IMDS or the network.
 */

const MODULE = 'github.com/jtblin/kube2iam';
const MAIN_PACKAGE = `${MODULE}/cmd`;
const run = promisify(execFile);

export interface Kube2iam {
  /** What happened: `measured`, or why not. */
  status: string;
  url: string | undefined;
  stop(): Promise<void>;
}

export interface Kube2iamOptions {
  kube: FakeKubeApi;
  stsUrl: string;
  role: string;
  podIp: string;
  log: (line: string) => void;
}

const absent = (status: string): Kube2iam => ({ status, url: undefined, stop: async () => undefined });

export async function startKube2iam(options: Kube2iamOptions): Promise<Kube2iam> {
  if (process.env.BENCH_KUBE2IAM === '0') return absent('skipped (BENCH_KUBE2IAM=0)');
  if (process.platform !== 'linux') return absent('skipped: the loopback guard needs Linux /proc');
  const binary = await locateBinary(options.log);
  if ('error' in binary) return absent(binary.error);

  const work = mkdtempSync(join(tmpdir(), 'corridor-kube2iam-'));
  const violations: string[] = [];
  let child: ChildProcess | undefined;
  let proxy: { port: number; close(): void } | undefined;
  let watcher: NodeJS.Timeout | undefined;
  const stop = async () => {
    clearInterval(watcher);
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    proxy?.close();
    rmSync(work, { recursive: true, force: true });
  };
  const abort = async (reason: string) => {
    await stop();
    return absent(`aborted: ${reason}`);
  };
  try {
    const ca = await makeCertificates(work);
    proxy = await startStsProxy(ca, options.stsUrl, (what) => {
      violations.push(what);
      child?.kill('SIGKILL');
    });
    const port = await freePort();
    const stderr: string[] = [];
    child = spawn(
      binary.path,
      [
        `--app-port=${port}`,
        '--host-ip=127.0.0.1',
        `--api-server=${options.kube.url}`,
        `--api-token=${options.kube.token}`,
        '--insecure',
        `--node=${NODE}`,
        `--base-role-arn=${BASE_ROLE_ARN}`,
        `--default-role=${options.role}`,
        '--iptables=false',
        // Unknown paths are reverse-proxied to this address: the discard port on loopback, never the real IMDS.
        '--metadata-addr=127.0.0.1:9',
        '--log-level=warn',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: work,
          AWS_ACCESS_KEY_ID: 'AKIABENCHNODEROLE000',
          AWS_SECRET_ACCESS_KEY: 'bench-node-secret',
          AWS_REGION: 'us-east-1',
          AWS_EC2_METADATA_DISABLED: 'true',
          HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
          HTTP_PROXY: `http://127.0.0.1:${proxy.port}`,
          NO_PROXY: '127.0.0.1,localhost',
          SSL_CERT_FILE: ca,
          AWS_CA_BUNDLE: ca,
        },
      },
    );
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const pid = child.pid!;
    watcher = setInterval(() => {
      const peer = nonLoopbackPeer(pid);
      if (peer) {
        violations.push(`socket to ${peer}`);
        child?.kill('SIGKILL');
      }
    }, 100);
    const url = `http://127.0.0.1:${port}`;
    try {
      await until(
        'kube2iam to serve the pod',
        async () => {
          if (violations.length > 0 || child?.exitCode !== null) return false;
          return (await get(url, CREDENTIALS_PATH + options.role, options.podIp)).status === 200 ? true : undefined;
        },
        30_000,
        100,
      );
    } catch {
      return await abort(`kube2iam did not serve credentials in 30 s: ${lastLine(stderr.join(''))}`);
    }
    if (violations.length > 0) return await abort(`it tried to leave loopback (${violations.join(', ')})`);
    if (child.exitCode !== null) return await abort(`it exited: ${lastLine(stderr.join(''))}`);
    options.log(`kube2iam ${binary.version} serving on ${url}`);
    return {
      get status() {
        return violations.length > 0 ? `aborted: it tried to leave loopback (${violations.join(', ')})` : `measured (${binary.version})`;
      },
      url,
      stop,
    };
  } catch (error) {
    return abort((error as Error).message);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.slice(0, 200) ?? '';
}

/** The cached binary, or a fresh `go install` into the cache (outside the repository). */
async function locateBinary(log: (line: string) => void): Promise<{ path: string; version: string } | { error: string }> {
  if (process.env.KUBE2IAM_BIN) return existsSync(process.env.KUBE2IAM_BIN) ? { path: process.env.KUBE2IAM_BIN, version: 'KUBE2IAM_BIN' } : { error: `KUBE2IAM_BIN ${process.env.KUBE2IAM_BIN} does not exist` };
  const cache = process.env.CORRIDOR_CACHE ?? join(homedir(), '.cache', 'corridor');
  const bin = join(cache, 'bin');
  const path = join(bin, 'kube2iam');
  const versionFile = join(bin, 'kube2iam.version');
  if (existsSync(path)) return { path, version: existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : 'cached' };
  try {
    await run('go', ['version']);
  } catch {
    return { error: 'not measured: Go is not installed' };
  }
  const version = process.env.KUBE2IAM_VERSION ?? 'latest';
  log(`building kube2iam: go install ${MAIN_PACKAGE}@${version} (cached in ${bin})`);
  const gobin = mkdtempSync(join(tmpdir(), 'corridor-gobin-'));
  try {
    await run('go', ['install', `${MAIN_PACKAGE}@${version}`], { env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod' }, timeout: 240_000 });
    const built = readdirSync(gobin)[0];
    if (!built) return { error: 'go install produced no binary' };
    mkdirSync(bin, { recursive: true });
    renameSync(join(gobin, built), path);
    const resolved = await run('go', ['list', '-m', '-f', '{{.Version}}', `${MODULE}@${version}`]).then((r) => r.stdout.trim(), () => version);
    writeFileSync(versionFile, `${resolved}\n`);
    return { path, version: resolved };
  } catch (error) {
    const text = `${(error as { stderr?: string }).stderr ?? ''}${(error as Error).message}`;
    return { error: `go install ${MAIN_PACKAGE}@${version} failed: ${lastLine(text.split('\n').filter((l) => l.includes(MODULE) || l.includes('server response')).join('\n') || text)}` };
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** A throwaway CA and a certificate for the STS host names, made with the openssl CLI; returns the CA file. */
async function makeCertificates(dir: string): Promise<string> {
  const f = (name: string) => join(dir, name);
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:sts.amazonaws.com,DNS:sts.us-east-1.amazonaws.com\nbasicConstraints=CA:FALSE\n');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=corridor bench CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('sts.key'), '-out', f('sts.csr'), '-subj', '/CN=sts.amazonaws.com']);
  await run('openssl', ['x509', '-req', '-in', f('sts.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('sts.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
  return f('ca.pem');
}

const STS_HOST = /^sts(\.[a-z0-9-]+)?\.amazonaws\.com:443$/;

/** An HTTP proxy on loopback that only accepts CONNECT to STS, terminates TLS and forwards to the stand-in. */
async function startStsProxy(caFile: string, stsUrl: string, violation: (what: string) => void): Promise<{ port: number; close(): void }> {
  const dir = join(caFile, '..');
  const secure = tls.createSecureContext({ key: readFileSync(join(dir, 'sts.key')), cert: readFileSync(join(dir, 'sts.pem')) });
  const target = new URL(stsUrl);
  const forwarder = http.createServer((request, response) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: request.url, method: request.method, headers: { ...request.headers, host: target.host } },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  const proxy = http.createServer((request, response) => {
    // A plain-HTTP request through the proxy: nothing kube2iam should make (the IMDS would be one).
    violation(`http://${request.headers.host ?? '?'}${request.url ?? ''}`);
    response.writeHead(403).end();
  });
  proxy.on('connect', (request: http.IncomingMessage, socket: net.Socket) => {
    if (!STS_HOST.test(request.url ?? '')) {
      violation(`CONNECT ${request.url}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n', () => {
      const secured = new tls.TLSSocket(socket, { isServer: true, secureContext: secure });
      forwarder.emit('connection', secured);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as net.AddressInfo).port,
    close: () => {
      proxy.closeAllConnections();
      proxy.close();
      forwarder.close();
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP peer of process `pid` outside loopback (from /proc), if any. */
function nonLoopbackPeer(pid: number): string | undefined {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((inode): inode is string => inode !== undefined),
    );
  } catch {
    return undefined;
  }
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const remote = fields[2];
      if (!remote || !inodes.has(fields[9] ?? '')) continue;
      const [hex, portHex] = remote.split(':') as [string, string];
      if (Number.parseInt(portHex, 16) === 0 && /^0+$/.test(hex)) continue;
      if (!isLoopbackHex(hex)) return `${hex}:${Number.parseInt(portHex, 16)}`;
    }
  }
  return undefined;
}

/** /proc/net addresses are little-endian hex: 0100007F is 127.0.0.1; IPv6 ::1 and ::ffff:127.x too. */
function isLoopbackHex(hex: string): boolean {
  if (hex.length === 8) return hex.slice(6, 8) === '7F' || /^0+$/.test(hex);
  if (/^0+$/.test(hex)) return true;
  if (hex === '00000000000000000000000001000000') return true;
  return hex.startsWith('0000000000000000FFFF0000') && hex.slice(30, 32) === '7F';
}
