import { BlockList, isIP } from 'node:net';

/** The environment variables proxy selection reads; `process.env` fits. */
export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** HTTPS_PROXY or HTTP_PROXY holds something corridor cannot use; start-up reports it. */
export class ProxyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyConfigError';
  }
}

/**
 * The proxy to use for requests to `target`, or undefined to connect directly.
 *
 * Follows the common (Go, curl) conventions, since the JS AWS SDK reads none of these variables:
 * - https targets use HTTPS_PROXY, http targets HTTP_PROXY; the upper-case name wins, an empty
 *   value counts as unset; a value without a scheme means `http://`.
 * - NO_PROXY (or no_proxy) is a comma- or space-separated list: `*` (everything), a host name
 *   (that host and its subdomains; a leading `.` or `*.` means the same), an IP address, a CIDR
 *   block, each optionally with `:port` to match only that port.
 * - Unlike Go, localhost and loopback addresses are not exempt by themselves: put them in
 *   NO_PROXY. (Tests rely on reaching loopback STS stand-ins through a loopback proxy.)
 */
export function proxyFor(target: URL, env: ProxyEnv): URL | undefined {
  const raw =
    target.protocol === 'https:' ? firstSet(env, 'HTTPS_PROXY', 'https_proxy')
    : target.protocol === 'http:' ? firstSet(env, 'HTTP_PROXY', 'http_proxy')
    : undefined;
  if (raw === undefined) return undefined;
  const noProxy = firstSet(env, 'NO_PROXY', 'no_proxy');
  if (noProxy !== undefined && bypassesProxy(target, noProxy)) return undefined;
  return parseProxyUrl(raw);
}

/** True when a NO_PROXY list covers the target's host (and port). */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = bareHost(target.hostname);
  const port = effectivePort(target);
  for (const entry of noProxy.split(/[\s,]+/)) {
    if (entry === '') continue;
    if (entry === '*') return true;
    const parsed = parseEntry(entry.toLowerCase());
    if (parsed.port !== undefined && parsed.port !== port) continue;
    if (matchesHost(host, parsed.host)) return true;
  }
  return false;
}

function parseProxyUrl(raw: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ProxyConfigError(`proxy "${redactAuth(raw)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProxyConfigError(`proxy "${redactAuth(raw)}": only http:// and https:// proxies are supported`);
  }
  if (url.hostname === '') throw new ProxyConfigError(`proxy "${redactAuth(raw)}" has no host`);
  return url;
}

function firstSet(env: ProxyEnv, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

interface Entry {
  host: string;
  port: number | undefined;
}

/** `host`, `host:port`, `1.2.3.4:80`, `[::1]:443`, `::1`, `10.0.0.0/8`, `.example.com`, `*.example.com`. */
function parseEntry(entry: string): Entry {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] as string, port: toPort(bracketed[2]) };
  const colons = entry.split(':').length - 1;
  // More than one colon without brackets is a bare IPv6 address (or CIDR), never host:port.
  if (colons === 1) {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at), port: toPort(entry.slice(at + 1)) };
  }
  return { host: entry, port: undefined };
}

function matchesHost(host: string, pattern: string): boolean {
  if (pattern.includes('/')) return inCidr(host, pattern);
  const domain = pattern.replace(/^\*?\./, '').replace(/\.$/, '');
  if (domain === '') return false;
  if (isIP(domain) !== 0) return sameAddress(host, domain);
  return host === domain || host.endsWith(`.${domain}`);
}

function inCidr(host: string, cidr: string): boolean {
  const family = isIP(host);
  const [network, bits] = cidr.split('/');
  const prefix = Number(bits);
  const networkFamily = isIP(network ?? '');
  if (family === 0 || networkFamily !== family || !Number.isInteger(prefix)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  list.addSubnet(network as string, prefix, type);
  return list.check(host, type);
}

/** Compares addresses after normalisation (`::1` equals `0:0::1`). */
function sameAddress(host: string, address: string): boolean {
  const family = isIP(host);
  if (family === 0 || family !== isIP(address)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  list.addAddress(address, type);
  return list.check(host, type);
}

function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function toPort(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  // A malformed port matches no port, rather than every port.
  return Number.isInteger(port) ? port : Number.NaN;
}

/** Proxy URLs may carry user:password; error messages must not. */
function redactAuth(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//***@');
}
