import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { FakeSts } from '../demo/index.js';
import { BASE_ROLE_ARN, CREDENTIALS_PATH, NODE, scaleObjects, startCluster, type ScaleShape } from './cluster.js';
import { fixedRate, get, type FixedRateResult } from './load.js';
import { until } from './probe.js';

/**
 * kube2iam, the tool corridor replaces, under the same load on the same machine: a binary the
 * operator built by hand from kube2iam's source (the Go module proxy does not serve it), given
 * by KUBE2IAM_BIN, pointed at the same Kubernetes API and STS stand-ins on loopback. Its STS
 * client (aws-sdk-go-v2 behind a fixed endpoint resolver) ignores AWS_ENDPOINT_URL_STS, and it
 * asks EC2 DescribeRegions before its first AssumeRole, so its AWS traffic goes through a
 * loopback HTTPS proxy of ours that terminates TLS with a throwaway CA: STS is forwarded to the
 * stand-in, DescribeRegions gets a canned answer for the stand-in's region. The proxy refuses,
 * and aborts this part on, any other destination; a socket watcher does the same for any
 * non-loopback peer, so kube2iam can never reach the real IMDS or the network.
 */

const run = promisify(execFile);
const REGION = 'us-east-1';
const MB = 1024 * 1024;

export interface Kube2iam {
  /** What happened: `measured (<version>)`, or why not; socket errors are appended. */
  readonly status: string;
  url: string | undefined;
  /** Spawn to the probe pod's first credential (STS included; polled every 20 ms): kube2iam has no readiness of its own. */
  firstCredentialMs?: number;
  /** Resident memory of the kube2iam process, from /proc/<pid>/statm. */
  rssMb(): number | undefined;
  stop(): Promise<void>;
}

export interface Kube2iamOptions {
  kube: { url: string; token: string };
  stsUrl: string;
  /** --default-role: the role of pods without an annotation. */
  defaultRole?: string;
  /** The pod and role whose first 200 says kube2iam is serving. */
  probe: { podIp: string; role: string };
  log: (line: string) => void;
}

const absent = (status: string): Kube2iam => ({ status, url: undefined, rssMb: () => undefined, stop: async () => undefined });

/** Socket errors by where they happened; every socket of this part reports here instead of throwing. */
class SocketErrors {
  private readonly counts = new Map<string, { count: number; first: string }>();
  /** Errors after stop began are expected (kube2iam is being killed) and not counted. */
  stopping = false;
  listener(where: string): (error: Error) => void {
    return (error) => {
      if (this.stopping) return;
      const seen = this.counts.get(where);
      if (seen) seen.count++;
      else this.counts.set(where, { count: 1, first: (error as NodeJS.ErrnoException).code ?? error.message });
    };
  }
  summary(): string {
    if (this.counts.size === 0) return '';
    return `; socket errors: ${[...this.counts].map(([where, { count, first }]) => `${where} ${count} (${first})`).join(', ')}`;
  }
}

export async function startKube2iam(options: Kube2iamOptions): Promise<Kube2iam> {
  if (process.env.BENCH_KUBE2IAM === '0') return absent('skipped (BENCH_KUBE2IAM=0)');
  if (process.platform !== 'linux') return absent('skipped: the loopback guard needs Linux /proc');
  const binary = await locateBinary();
  if ('error' in binary) return absent(binary.error);

  const work = mkdtempSync(join(tmpdir(), 'corridor-kube2iam-'));
  const violations: string[] = [];
  const errors = new SocketErrors();
  let child: ChildProcess | undefined;
  let spawnError: Error | undefined;
  let proxy: { port: number; close(): void } | undefined;
  let watcher: NodeJS.Timeout | undefined;
  const stop = async () => {
    errors.stopping = true;
    clearInterval(watcher);
    if (child && child.exitCode === null && child.signalCode === null && !spawnError) {
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
    const summary = errors.summary();
    await stop();
    return absent(`aborted: ${reason}${summary}`);
  };
  try {
    const ca = await makeCertificates(work);
    proxy = await startAwsProxy(ca, options.stsUrl, errors, (what) => {
      violations.push(what);
      child?.kill('SIGKILL');
    });
    const port = await freePort();
    const stderr: string[] = [];
    const spawnedAt = performance.now();
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
        ...(options.defaultRole ? [`--default-role=${options.defaultRole}`] : []),
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
          // client-go 0.36 streams its initial list (WatchList); the stand-in API serves a plain list.
          KUBE_FEATURE_WatchListClient: 'false',
          AWS_ACCESS_KEY_ID: 'AKIABENCHNODEROLE000',
          AWS_SECRET_ACCESS_KEY: 'bench-node-secret',
          AWS_REGION: REGION,
          AWS_EC2_METADATA_DISABLED: 'true',
          HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
          HTTP_PROXY: `http://127.0.0.1:${proxy.port}`,
          NO_PROXY: '127.0.0.1,localhost',
          SSL_CERT_FILE: ca,
          AWS_CA_BUNDLE: ca,
        },
      },
    );
    child.on('error', (error) => (spawnError = error));
    child.stderr!.on('error', errors.listener('kube2iam stderr'));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const pid = child.pid;
    if (pid === undefined) {
      await new Promise((resolve) => setImmediate(resolve));
      return await abort(`could not start ${binary.path}: ${spawnError?.message ?? 'no pid'}`);
    }
    watcher = setInterval(() => {
      const peer = nonLoopbackPeer(pid);
      if (peer) {
        violations.push(`socket to ${peer}`);
        child?.kill('SIGKILL');
      }
    }, 100);
    const url = `http://127.0.0.1:${port}`;
    const gone = () => violations.length > 0 || spawnError !== undefined || child?.exitCode !== null || child?.signalCode !== null;
    try {
      await until(
        'kube2iam to serve the pod',
        async () => {
          if (gone()) return false;
          return (await get(url, CREDENTIALS_PATH + options.probe.role, options.probe.podIp)).status === 200 ? true : undefined;
        },
        60_000,
        20,
      );
    } catch {
      return await abort(`kube2iam did not serve credentials in 60 s: ${lastLine(stderr.join(''))}`);
    }
    if (violations.length > 0) return await abort(`it tried to leave loopback (${violations.join(', ')})`);
    if (gone()) return await abort(`it exited: ${spawnError?.message ?? lastLine(stderr.join(''))}`);
    const firstCredentialMs = performance.now() - spawnedAt;
    options.log(`${binary.version} serving on ${url}, its first credential ${Math.round(firstCredentialMs)} ms after spawn`);
    return {
      firstCredentialMs,
      get status() {
        const state = violations.length > 0 ? `aborted: it tried to leave loopback (${violations.join(', ')})` : `measured (${binary.version})`;
        return state + errors.summary();
      },
      url,
      rssMb: () => rssMb(pid),
      stop,
    };
  } catch (error) {
    return abort((error as Error).message);
  }
}

/** RSS of a process in MB from /proc/<pid>/statm (resident pages times the page size). */
function rssMb(pid: number): number | undefined {
  try {
    const resident = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return (resident * pageSize()) / MB;
  } catch {
    return undefined;
  }
}

let cachedPageSize: number | undefined;
/** The kernel page size: /proc/self/smaps names it (KernelPageSize); 4 kB where it cannot be read. */
function pageSize(): number {
  if (cachedPageSize === undefined) {
    try {
      const kb = /KernelPageSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'))?.[1];
      cachedPageSize = kb ? Number(kb) * 1024 : 4096;
    } catch {
      cachedPageSize = 4096;
    }
  }
  return cachedPageSize;
}

export interface Kube2iamScale {
  status: string;
  /** Distinct role ARNs the pods use: kube2iam caches one session per role. */
  roles: number;
  readySeconds?: number;
  /** Spawn to the first pod's first credential. */
  firstCredentialMs?: number;
  rssIdleMb?: number;
  load?: FixedRateResult & { rate: number };
  rssAfterLoadMb?: number;
}

/**
 * kube2iam on the node of bench/scale.ts: `shape.pods` pods in a cluster of `shape.namespaces`
 * namespaces. kube2iam has no namespace default role, so every pod carries its role as an
 * annotation. RSS once every pod has been answered (each role's session cached), then after
 * `durationMs` at `rate` requests/s from all the pods.
 */
export async function measureKube2iamScale(shape: ScaleShape, sts: FakeSts, rate: number, durationMs: number, log: (line: string) => void): Promise<Kube2iamScale> {
  const { objects, pods } = scaleObjects(shape);
  const roleOf = new Map(pods.map((pod) => [pod.ip, pod.role]));
  const annotated = objects.map((object) => {
    const ip = (object as { status?: { podIP?: string } }).status?.podIP;
    const role = object.kind === 'Pod' && ip ? roleOf.get(ip) : undefined;
    if (!role || object.metadata.annotations?.['iam.amazonaws.com/role']) return object;
    return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, 'iam.amazonaws.com/role': role } } };
  });
  const roles = new Set(pods.map((pod) => pod.role)).size;
  const cluster = await startCluster(annotated);
  const started = performance.now();
  const first = pods[0]!;
  const kube2iam = await startKube2iam({ kube: cluster.kube, stsUrl: sts.url, probe: { podIp: first.ip, role: first.role }, log });
  try {
    if (!kube2iam.url) return { status: kube2iam.status, roles };
    const url = kube2iam.url;
    // Every pod once, a few at a time: each role's first request waits for STS.
    const queue = [...pods];
    const failed: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let pod = queue.shift(); pod; pod = queue.shift()) {
          const answer = await get(url, CREDENTIALS_PATH + pod.role, pod.ip).catch((error: Error) => ({ status: 0, body: error.message }));
          if (answer.status !== 200) failed.push(`${pod.ip} ${answer.status}`);
        }
      }),
    );
    if (failed.length > 0) return { status: `aborted: ${failed.length} of ${pods.length} pods got no credentials (${failed.slice(0, 3).join(', ')})${kube2iam.status.replace(/^[^;]*/, '')}`, roles };
    const readySeconds = (performance.now() - started) / 1000;
    await sleep(7000);
    const rssIdleMb = kube2iam.rssMb();
    const load = await fixedRate({
      url,
      path: (ip: string) => CREDENTIALS_PATH + roleOf.get(ip),
      rate,
      warmupMs: 3000,
      durationMs,
      sources: pods.map((pod) => pod.ip),
      socketsPerSource: 1,
    });
    const rssAfterLoadMb = kube2iam.rssMb();
    const { firstCredentialMs } = kube2iam;
    return { status: kube2iam.status, roles, readySeconds, ...(firstCredentialMs !== undefined ? { firstCredentialMs } : {}), ...(rssIdleMb !== undefined ? { rssIdleMb } : {}), load: { ...load, rate }, ...(rssAfterLoadMb !== undefined ? { rssAfterLoadMb } : {}) };
  } finally {
    await kube2iam.stop();
    await cluster.close();
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.slice(0, 200) ?? '';
}

/** KUBE2IAM_BIN, a binary built by hand (docs/performance.md, "kube2iam, same machine"); the bench never builds kube2iam. */
async function locateBinary(): Promise<{ path: string; version: string } | { error: string }> {
  const path = process.env.KUBE2IAM_BIN;
  if (!path) return { error: 'not measured: set KUBE2IAM_BIN to a kube2iam binary you built' };
  if (!existsSync(path)) return { error: `not measured: KUBE2IAM_BIN ${path} does not exist` };
  // "Version: 0.15.0 - Commit: 3e62324 - Date: ..."
  const version = await run(path, ['--version'], { timeout: 10_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }).then(
    (r) => /Version:\s*(\S+)(?:\s*-\s*Commit:\s*(\S+))?/.exec(r.stdout + r.stderr),
    () => null,
  );
  return { path, version: version?.[1] ? `kube2iam ${version[1]}${version[2] ? ` ${version[2]}` : ''}` : 'kube2iam, version unknown' };
}

/** A throwaway CA and a certificate for the STS and EC2 host names, made with the openssl CLI; returns the CA file. */
async function makeCertificates(dir: string): Promise<string> {
  const f = (name: string) => join(dir, name);
  writeFileSync(f('ext.cnf'), `subjectAltName=DNS:sts.amazonaws.com,DNS:sts.${REGION}.amazonaws.com,DNS:ec2.${REGION}.amazonaws.com\nbasicConstraints=CA:FALSE\n`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=corridor bench CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('sts.key'), '-out', f('sts.csr'), '-subj', '/CN=sts.amazonaws.com']);
  await run('openssl', ['x509', '-req', '-in', f('sts.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('sts.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
  return f('ca.pem');
}

const STS_HOST = /^sts(\.[a-z0-9-]+)?\.amazonaws\.com:443$/;
const EC2_HOST = `ec2.${REGION}.amazonaws.com:443`;

/** EC2 DescribeRegions (query protocol) for the one region the stand-ins serve. */
const DESCRIBE_REGIONS = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>00000000-0000-0000-0000-000000000000</requestId>
  <regionInfo>
    <item><regionName>${REGION}</regionName><regionEndpoint>ec2.${REGION}.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
  </regionInfo>
</DescribeRegionsResponse>
`;

/**
 * An HTTP proxy on loopback that only accepts CONNECT to STS and to EC2 in REGION, terminates
 * TLS, forwards STS to the stand-in and answers DescribeRegions itself. Any other destination,
 * any plain-HTTP request and any other EC2 call is a violation.
 */
async function startAwsProxy(caFile: string, stsUrl: string, errors: SocketErrors, violation: (what: string) => void): Promise<{ port: number; close(): void }> {
  const dir = join(caFile, '..');
  const secure = tls.createSecureContext({ key: readFileSync(join(dir, 'sts.key')), cert: readFileSync(join(dir, 'sts.pem')) });
  const target = new URL(stsUrl);
  const forwarder = http.createServer((request, response) => {
    request.on('error', errors.listener('proxy request from kube2iam'));
    response.on('error', errors.listener('proxy response to kube2iam'));
    if ((request.headers.host ?? '').startsWith('ec2.')) {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        if (!/(^|&)Action=DescribeRegions(&|$)/.test(body)) {
          violation(`EC2 ${body.slice(0, 60)}`);
          response.writeHead(400).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(DESCRIBE_REGIONS) }).end(DESCRIBE_REGIONS);
      });
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: request.url, method: request.method, headers: { ...request.headers, host: target.host } },
      (answer) => {
        answer.on('error', errors.listener('STS stand-in response'));
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      errors.listener('STS stand-in')(error);
      response.destroy();
    });
    request.pipe(upstream);
  });
  forwarder.on('clientError', (error, socket) => {
    errors.listener('proxy TLS client')(error);
    socket.destroy();
  });
  const proxy = http.createServer((request, response) => {
    // A plain-HTTP request through the proxy: nothing kube2iam should make (the IMDS would be one).
    violation(`http://${request.headers.host ?? '?'}${request.url ?? ''}`);
    response.writeHead(403).end();
  });
  proxy.on('clientError', (error, socket) => {
    errors.listener('proxy client')(error);
    socket.destroy();
  });
  proxy.on('connect', (request: http.IncomingMessage, socket: net.Socket) => {
    // After CONNECT the socket is ours: node:http no longer listens for its errors.
    socket.on('error', errors.listener('proxy tunnel'));
    const destination = request.url ?? '';
    if (!STS_HOST.test(destination) && destination !== EC2_HOST) {
      violation(`CONNECT ${destination}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n', () => {
      const secured = new tls.TLSSocket(socket, { isServer: true, secureContext: secure });
      secured.on('error', errors.listener('proxy TLS'));
      forwarder.emit('connection', secured);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as net.AddressInfo).port,
    close: () => {
      proxy.closeAllConnections();
      proxy.close();
      forwarder.closeAllConnections();
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
