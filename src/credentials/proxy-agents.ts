import http from 'node:http';
import https from 'node:https';
import { isIPv6, type Socket } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { proxyFor, type ProxyEnv } from './proxy.js';

export interface EndpointAgents {
  /** The proxy requests to the endpoint go through; undefined when they go direct. */
  proxy: URL | undefined;
  httpAgent?: http.Agent;
  httpsAgent?: https.Agent;
}

/**
 * The agents that carry requests to `endpoint`: through the proxy HTTPS_PROXY/HTTP_PROXY name
 * unless NO_PROXY covers the endpoint. https endpoints are tunnelled with CONNECT; http
 * endpoints are sent to an http:// proxy as absolute-URI requests (what curl does, and what
 * proxies allow: many refuse CONNECT to ports other than 443). `ca` adds trusted roots for the
 * endpoint (TLS-inspecting proxies, private endpoints). Undefined agents mean the SDK defaults.
 */
export function agentsFor(endpoint: URL, env: ProxyEnv, ca?: string | Buffer): EndpointAgents {
  const proxy = proxyFor(endpoint, env);
  if (proxy === undefined) {
    return ca === undefined ? { proxy } : { proxy, httpsAgent: new https.Agent({ keepAlive: true, ca }) };
  }
  if (endpoint.protocol === 'https:') return { proxy, httpsAgent: new TunnelAgent(proxy, ca) };
  if (proxy.protocol === 'http:') return { proxy, httpAgent: new ForwardProxyAgent(proxy) };
  // An https:// proxy in front of a plain-http endpoint: tunnel, since the forward agent only
  // speaks plain HTTP to its proxy.
  return { proxy, httpAgent: new TunnelAgent(proxy, ca) };
}

type ConnectOpts = Parameters<HttpsProxyAgent<string>['connect']>[1];

/** CONNECT tunnel whose TLS to the endpoint also trusts `ca` (HttpsProxyAgent drops agent-level TLS options). */
class TunnelAgent extends HttpsProxyAgent<string> {
  constructor(
    proxy: URL,
    private readonly ca: string | Buffer | undefined,
  ) {
    super(proxy, { keepAlive: true });
  }

  override connect(req: http.ClientRequest, opts: ConnectOpts): Promise<Socket> {
    return super.connect(req, opts.secureEndpoint && this.ca !== undefined ? { ...opts, ca: this.ca } : opts);
  }
}

type AddRequest = (this: http.Agent, req: http.ClientRequest, options: http.RequestOptions) => void;
// Node's Agent routes every request through addRequest, but @types/node does not declare it.
const baseAddRequest = (http.Agent.prototype as unknown as { addRequest: AddRequest }).addRequest;

/**
 * Sends plain-HTTP requests to an http:// forward proxy: the socket goes to the proxy and the
 * request line carries the endpoint's absolute URI (`POST http://sts.local:5000/ HTTP/1.1`).
 * Sockets are pooled per proxy.
 */
class ForwardProxyAgent extends http.Agent {
  private readonly authorization: string | undefined;
  private readonly proxyHost: string;
  private readonly proxyPort: number;

  constructor(readonly proxy: URL) {
    super({ keepAlive: true });
    this.proxyHost = proxy.hostname.replace(/^\[|\]$/g, '');
    this.proxyPort = proxy.port === '' ? 80 : Number(proxy.port);
    this.authorization =
      proxy.username || proxy.password
        ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`
        : undefined;
  }

  addRequest(req: http.ClientRequest, options: http.RequestOptions): void {
    // Node writes the request line lazily, so rewriting the path here still takes effect. A
    // request whose head was already serialised (array headers, Expect) would reach the proxy
    // in origin form, so refuse it loudly instead.
    if ((req as unknown as { _header: unknown })._header) {
      req.destroy(new Error('ForwardProxyAgent: request head was serialised before it could be rewritten for the proxy'));
      return;
    }
    const host = options.hostname ?? options.host ?? 'localhost';
    const port = Number(options.port ?? 80);
    req.path = `http://${isIPv6(host) ? `[${host}]` : host}${port === 80 ? '' : `:${port}`}${req.path}`;
    if (this.authorization !== undefined) req.setHeader('proxy-authorization', this.authorization);
    baseAddRequest.call(this, req, { ...options, host: this.proxyHost, hostname: this.proxyHost, port: this.proxyPort });
  }
}
