import http from 'node:http';
import type { Clock } from '../time/index.js';

export interface UpstreamAnswer {
  status: number;
  body: string;
  contentType: string | undefined;
}

/** The real instance metadata service, reached only for allowlisted paths. */
export interface MetadataUpstream {
  get(path: string): Promise<UpstreamAnswer>;
}

const TOKEN_TTL_SECONDS = 21_600;
const MAX_BODY_BYTES = 64 * 1024;

/** Talks to the node's IMDS with the agent's own IMDSv2 token, renewed a minute before it ends. */
export function createMetadataUpstream(options: { baseUrl: string; clock: Clock; timeoutMs: number }): MetadataUpstream {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let token: { value: string | undefined; expiresAt: number } | undefined;

  function request(method: string, path: string, headers: Record<string, string>): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const req = http.request(new URL(path, options.baseUrl), { method, headers, agent, timeout: options.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error('upstream answer too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'] }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`upstream metadata service did not answer within ${options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  async function currentToken(): Promise<string | undefined> {
    if (token && token.expiresAt - 60_000 > options.clock.now()) return token.value;
    const answer = await request('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) });
    // An IMDS that does not do v2 (403/404/405) is used without a token, as the SDKs do.
    const value = answer.status === 200 ? answer.body.trim() : undefined;
    if (answer.status !== 200 && ![403, 404, 405].includes(answer.status)) {
      throw new Error(`upstream token request answered ${answer.status}`);
    }
    token = { value, expiresAt: options.clock.now() + TOKEN_TTL_SECONDS * 1000 };
    return value;
  }

  return {
    async get(path) {
      const value = await currentToken();
      const answer = await request('GET', path, value ? { 'x-aws-ec2-metadata-token': value } : {});
      if (answer.status === 401) token = undefined; // our token went stale (upstream restarted): renew next time
      return answer;
    },
  };
}
