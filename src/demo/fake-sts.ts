import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStsOptions {
  /** Role ARNs whose trust policy does not name the node role: AssumeRole answers AccessDenied. */
  untrustedRoles?: Iterable<string>;
  /** Added to every answer, to model a real STS round trip (50-100 ms). */
  latencyMs?: number;
}

export interface FakeSts {
  url: string;
  /** AssumeRole calls received, in order. */
  assumeCalls: Array<{ roleArn: string; roleSessionName: string; durationSeconds: number; externalId: string | undefined }>;
  close(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * An STS stand-in speaking the Query/XML wire format for AssumeRole and GetCallerIdentity.
 * It checks no signatures: GetCallerIdentity identifies the caller by the access key id in the
 * SigV4 Authorization header, which is enough to show which role a set of credentials belongs to.
 */
export async function startFakeSts(options: FakeStsOptions = {}): Promise<FakeSts> {
  const untrusted = new Set(options.untrustedRoles ?? []);
  const identities = new Map<string, { arn: string; expiresAt: number }>();
  const assumeCalls: FakeSts['assumeCalls'] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const answer = () => respond(req, res, form);
      if (options.latencyMs) setTimeout(answer, options.latencyMs);
      else answer();
    });
  });

  function respond(req: http.IncomingMessage, res: http.ServerResponse, form: URLSearchParams): void {
    const action = form.get('Action');
    if (action === 'AssumeRole') {
      const roleArn = form.get('RoleArn') ?? '';
      const roleSessionName = form.get('RoleSessionName') ?? '';
      const durationSeconds = Number(form.get('DurationSeconds') ?? '3600');
      assumeCalls.push({ roleArn, roleSessionName, durationSeconds, externalId: form.get('ExternalId') ?? undefined });
      if (untrusted.has(roleArn)) {
        return xmlError(res, 403, 'AccessDenied', `User: arn:aws:sts::123456789012:assumed-role/node-role/i-0demo is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
      }
      const match = /^arn:aws[\w-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
      if (!match) return xmlError(res, 400, 'ValidationError', `${roleArn} is invalid`);
      const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      const assumedRoleArn = `arn:aws:sts::${match[1]}:assumed-role/${match[2]}/${roleSessionName}`;
      const expiresAt = Date.now() + durationSeconds * 1000;
      identities.set(accessKeyId, { arn: assumedRoleArn, expiresAt });
      const expiration = new Date(expiresAt).toISOString();
      return xml(res, `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey><SessionToken>${randomBytes(120).toString('base64')}</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROADEMO:${roleSessionName}</AssumedRoleId><Arn>${assumedRoleArn}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata></AssumeRoleResponse>`);
    }
    if (action === 'GetCallerIdentity') {
      const accessKeyId = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const identity = identities.get(accessKeyId);
      if (identity === undefined) return xmlError(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
      // Like real STS, expired session credentials are refused: a client holding them fails.
      if (Date.now() >= identity.expiresAt) return xmlError(res, 400, 'ExpiredToken', 'The security token included in the request is expired');
      const arn = identity.arn;
      return xml(res, `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROADEMO:x</UserId><Account>${arn.split(':')[4]}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>demo</RequestId></ResponseMetadata></GetCallerIdentityResponse>`);
    }
    xmlError(res, 400, 'InvalidAction', `Could not find operation ${action}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    assumeCalls,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function xml(res: http.ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/xml' }).end(body);
}

function xmlError(res: http.ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'text/xml' })
    .end(`<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>demo</RequestId></ErrorResponse>`);
}
