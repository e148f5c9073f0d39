import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  STSClient,
  type AssumeRoleCommandOutput,
  type AssumeRoleWithWebIdentityCommandOutput,
} from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { systemClock, type Clock } from '../time/index.js';
import { agentsFor } from './proxy-agents.js';
import type { ProxyEnv } from './proxy.js';
import { STS_CODE } from './sts-codes.js';
import { toAssumeRoleError } from './sts-errors.js';
import { AssumeRoleError, type AssumeRequest, type RoleAssumer, type Session } from './types.js';
import type { WebIdentitySts } from './web-identity.js';

export interface StsAssumerOptions {
  region: string;
  /** Overrides the regional endpoint (VPC endpoints, tests). */
  endpoint?: string;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case) are read from; main passes process.env. */
  env: ProxyEnv;
  /** The agent's own identity. Default: the SDK's default chain (the node role). Tests pass static keys. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Upper bound on connecting and on one request-and-response. */
  requestTimeoutMs: number;
  /** Stamps Session.issuedAt. Default: the system clock. */
  clock?: Clock;
  /** Extra trusted roots for the endpoint (PEM), e.g. a TLS-inspecting proxy's CA. */
  ca?: string | Buffer;
}

export interface StsAssumer extends RoleAssumer, WebIdentitySts {
  /** The proxy in use, for the start-up log line; undefined when STS is reached directly. */
  readonly proxy: URL | undefined;
  /** Closes pooled sockets. */
  close(): void;
}

/**
 * The RoleAssumer that talks to STS. It makes exactly one attempt per call (SDK retries off):
 * the session cache owns retrying, with backoff sized to the refresh window, and a pod waiting
 * on a miss must get its answer quickly rather than after the SDK's own backoff.
 */
export function createStsAssumer(options: StsAssumerOptions): StsAssumer {
  const clock = options.clock ?? systemClock;
  // The proxy decision needs the host the SDK will call: ours, else the SDK's configured-endpoint
  // variables, else the regional endpoint.
  const endpoint = new URL(options.endpoint || options.env.AWS_ENDPOINT_URL_STS || options.env.AWS_ENDPOINT_URL || defaultEndpoint(options.region));
  const agents = agentsFor(endpoint, options.env, options.ca);
  const requestHandler = new NodeHttpHandler({
    connectionTimeout: options.requestTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    throwOnRequestTimeout: true,
    ...(agents.httpAgent ? { httpAgent: agents.httpAgent } : {}),
    ...(agents.httpsAgent ? { httpsAgent: agents.httpsAgent } : {}),
  });
  const client = new STSClient({
    region: options.region,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: ownCopy(options.credentials) } : {}),
    maxAttempts: 1,
    requestHandler,
    customUserAgent: 'corridor',
  });

  /** Sends one STS call: its failure as an AssumeRoleError, its answer checked into a Session. */
  async function sessionFrom(send: () => Promise<AssumeRoleCommandOutput | AssumeRoleWithWebIdentityCommandOutput>): Promise<Session> {
    let output: AssumeRoleCommandOutput | AssumeRoleWithWebIdentityCommandOutput;
    try {
      output = await send();
    } catch (error) {
      throw toAssumeRoleError(error);
    }
    return toSession(output, clock.now());
  }

  return {
    proxy: agents.proxy,
    async assume(request: AssumeRequest): Promise<Session> {
      const command = new AssumeRoleCommand({
        RoleArn: request.roleArn,
        RoleSessionName: request.roleSessionName,
        DurationSeconds: request.durationSeconds,
        ...(request.externalId !== undefined ? { ExternalId: request.externalId } : {}),
        ...(request.policy !== undefined ? { Policy: request.policy } : {}),
        ...(request.policyArns !== undefined ? { PolicyArns: request.policyArns.map((arn) => ({ arn })) } : {}),
        ...(request.tags !== undefined ? { Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
      });
      return sessionFrom(() => client.send(command));
    },
    // Unsigned (the operation takes no AWS credentials): the token is the caller's identity.
    async assumeWithWebIdentity(request: AssumeRequest, token: string): Promise<Session> {
      const command = new AssumeRoleWithWebIdentityCommand({
        RoleArn: request.roleArn,
        RoleSessionName: request.roleSessionName,
        WebIdentityToken: token,
        DurationSeconds: request.durationSeconds,
        ...(request.policy !== undefined ? { Policy: request.policy } : {}),
        ...(request.policyArns !== undefined ? { PolicyArns: request.policyArns.map((arn) => ({ arn })) } : {}),
      });
      return sessionFrom(() => client.send(command));
    },
    close() {
      client.destroy();
    },
  };
}

/** The SDK annotates the credentials object it is given; hand it a copy so the caller's (maybe frozen) one is untouched. */
function ownCopy(credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  return typeof credentials === 'function' ? credentials : async () => ({ ...credentials });
}

/** The regional endpoint the SDK would pick; needed up front to decide about NO_PROXY. */
function defaultEndpoint(region: string): string {
  return region.startsWith('cn-') ? `https://sts.${region}.amazonaws.com.cn` : `https://sts.${region}.amazonaws.com`;
}

/** STS's answer, checked at the edge: a session without all its parts is not a session. */
function toSession(output: AssumeRoleCommandOutput | AssumeRoleWithWebIdentityCommandOutput, issuedAt: number): Session {
  const credentials = output.Credentials;
  const expiration = credentials?.Expiration instanceof Date ? credentials.Expiration.getTime() : Number.NaN;
  const assumedRoleArn = output.AssumedRoleUser?.Arn;
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !assumedRoleArn || !Number.isFinite(expiration)) {
    throw new AssumeRoleError('STS answered without complete credentials', STS_CODE.INVALID_RESPONSE, true);
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
    expiration,
    issuedAt,
    assumedRoleArn,
  };
}
