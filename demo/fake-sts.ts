import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorizeWebIdentity, type TokenClaims, type WebIdentityTrust } from './oidc-token.js';

export interface FakeStsOptions {
  /** Role ARNs whose trust policy does not name the node role: AssumeRole answers AccessDenied. */
  untrustedRoles?: Iterable<string>;
  /** Added to every answer, to model a real STS round trip (50-100 ms). */
  latencyMs?: number;
  /** AssumeRoleWithWebIdentity: the cluster's OIDC provider as IAM knows it, and which roles trust whom. */
  webIdentity?: WebIdentityTrust;
  /** Where it listens; default 127.0.0.1 (the real-node suite: the node's IP, for the agent on it). */
  host?: string;
  /** The time sessions expire from (tests: the agent's fake clock). Default Date.now. */
  now?: () => number;
  /** Answers this AssumeRole or AssumeRoleWithWebIdentity call with STS's `Throttling` (HTTP 400) when it returns true. */
  throttle?: (action: string) => boolean;
}

/** One AssumeRoleWithWebIdentity call: what was asked and, when the token verified, its claims. */
interface WebIdentityCall {
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  claims: TokenClaims | undefined;
  /** The error code answered; undefined for a session. */
  refused: string | undefined;
  /** Whether the request carried AWS credentials (a SigV4 Authorization header): the real call needs none. */
  signed: boolean;
}

export interface FakeSts {
  url: string;
  /** AssumeRole calls received, in order. */
  assumeCalls: AssumeCall[];
  /** AssumeRoleWithWebIdentity calls received, in order. */
  webIdentityCalls: WebIdentityCall[];
  /** Calls answered `Throttling` (they are in assumeCalls and webIdentityCalls too). */
  throttled: number;
  close(): Promise<void>;
}

/** One AssumeRole call as the stand-in received it. */
interface AssumeCall {
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  externalId: string | undefined;
  /** The inline session policy (Policy), as sent. */
  policy: string | undefined;
  /** The managed session policy ARNs (PolicyArns.member.N.arn), in order; undefined when none. */
  policyArns: string[] | undefined;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
/** STS: "The plain text that you use for both inline and managed session policies can't exceed 2,048 characters." */
const SESSION_POLICY_MAX_CHARS = 2048;
const POLICY_ARNS_MAX = 10;

/**
 * An STS stand-in speaking the Query/XML wire format for AssumeRole and GetCallerIdentity.
 * It checks no signatures: GetCallerIdentity identifies the caller by the access key id in the
 * SigV4 Authorization header, which is enough to show which role a set of credentials belongs to.
 */
export async function startFakeSts(options: FakeStsOptions = {}): Promise<FakeSts> {
  const untrusted = new Set(options.untrustedRoles ?? []);
  const identities = new Map<string, { arn: string; expiresAt: number }>();
  const assumeCalls: FakeSts['assumeCalls'] = [];
  const webIdentityCalls: FakeSts['webIdentityCalls'] = [];
  const now = options.now ?? Date.now;
  let throttled = 0;
  /** STS's own answer to a caller over its rate: HTTP 400, code Throttling. */
  const throttles = (action: string, res: http.ServerResponse): boolean => {
    if (options.throttle?.(action) !== true) return false;
    throttled++;
    xmlError(res, 400, 'Throttling', 'Rate exceeded');
    return true;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const answer = () => {
        if (form.get('Action') === 'AssumeRoleWithWebIdentity') void assumeWithWebIdentity(res, form, req.headers.authorization !== undefined);
        else respond(req, res, form);
      };
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
      const policy = form.get('Policy') ?? undefined;
      const policyArns = memberList(form, 'PolicyArns', 'arn');
      assumeCalls.push({ roleArn, roleSessionName, durationSeconds, externalId: form.get('ExternalId') ?? undefined, policy, policyArns });
      if (throttles('AssumeRole', res)) return;
      // Like STS: the Policy parameter's own length constraint, the ARN count, then the plain text of both together.
      if (policy !== undefined && policy.length > SESSION_POLICY_MAX_CHARS) {
        return xmlError(res, 400, 'ValidationError', tooLong('policy', SESSION_POLICY_MAX_CHARS));
      }
      if (policyArns !== undefined && policyArns.length > POLICY_ARNS_MAX) {
        return xmlError(res, 400, 'ValidationError', tooLong('policyArns', POLICY_ARNS_MAX));
      }
      const plainText = (policy?.length ?? 0) + (policyArns ?? []).reduce((sum, arn) => sum + arn.length, 0);
      if (plainText > SESSION_POLICY_MAX_CHARS) {
        return xmlError(res, 400, 'PackedPolicyTooLarge', `Session policies of ${plainText} characters exceed the ${SESSION_POLICY_MAX_CHARS}-character limit`);
      }
      if (untrusted.has(roleArn)) {
        const caller = 'arn:aws:sts::123456789012:assumed-role/node-role/i-0demo';
        return xmlError(res, 403, 'AccessDenied', `User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
      }
      // STS reports how much of the packed limit session policies used, in percent, only when there are some.
      const packedSize = plainText > 0 ? `<PackedPolicySize>${Math.ceil((plainText / SESSION_POLICY_MAX_CHARS) * 100)}</PackedPolicySize>` : '';
      return session(res, 'AssumeRole', roleArn, roleSessionName, durationSeconds, packedSize);
    }
    if (action === 'GetCallerIdentity') {
      const accessKeyId = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const identity = identities.get(accessKeyId);
      if (identity === undefined) return xmlError(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
      // Like real STS, expired session credentials are refused: a client holding them fails.
      if (now() >= identity.expiresAt) return xmlError(res, 400, 'ExpiredToken', 'The security token included in the request is expired');
      const arn = identity.arn;
      const result = `<GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROADEMO:x</UserId><Account>${arn.split(':')[4]}</Account></GetCallerIdentityResult>`;
      const metadata = '<ResponseMetadata><RequestId>demo</RequestId></ResponseMetadata>';
      return xml(res, `<GetCallerIdentityResponse xmlns="${NS}">${result}${metadata}</GetCallerIdentityResponse>`);
    }
    xmlError(res, 400, 'InvalidAction', `Could not find operation ${action}`);
  }

  /** Credentials for the role, answered as `<action>Response`; GetCallerIdentity knows them from now on. */
  function session(res: http.ServerResponse, action: string, roleArn: string, roleSessionName: string, durationSeconds: number, extra = ''): void {
    const match = /^arn:aws[\w-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
    if (!match) return xmlError(res, 400, 'ValidationError', `${roleArn} is invalid`);
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const assumedRoleArn = `arn:aws:sts::${match[1]}:assumed-role/${match[2]}/${roleSessionName}`;
    const expiresAt = now() + durationSeconds * 1000;
    identities.set(accessKeyId, { arn: assumedRoleArn, expiresAt });
    const expiration = new Date(expiresAt).toISOString();
    const credentials =
      `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey>` +
      `<SessionToken>${randomBytes(120).toString('base64')}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`;
    const user = `<AssumedRoleUser><AssumedRoleId>AROADEMO:${roleSessionName}</AssumedRoleId><Arn>${assumedRoleArn}</Arn></AssumedRoleUser>`;
    const metadata = `<ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata>`;
    const body = `<${action}Result>${credentials}${user}${extra}</${action}Result>${metadata}`;
    xml(res, `<${action}Response xmlns="${NS}">${body}</${action}Response>`);
  }

  /**
   * AssumeRoleWithWebIdentity, unsigned as the real one is, checked as STS checks it: the token
   * against the provider (signature by the issuer's keys, issuer, audience, expiry), then the
   * role's trust conditions on `sub` and `aud`. Only then a session, as long as asked (12 h at most).
   */
  async function assumeWithWebIdentity(res: http.ServerResponse, form: URLSearchParams, signed: boolean): Promise<void> {
    const roleArn = form.get('RoleArn') ?? '';
    const roleSessionName = form.get('RoleSessionName') ?? '';
    const durationSeconds = Number(form.get('DurationSeconds') ?? '3600');
    const call: WebIdentityCall = { roleArn, roleSessionName, durationSeconds, claims: undefined, refused: undefined, signed };
    webIdentityCalls.push(call);
    if (throttles('AssumeRoleWithWebIdentity', res)) return;
    const refuse = (status: number, code: string, message: string) => {
      call.refused = code;
      xmlError(res, status, code, message);
    };
    const trust = options.webIdentity;
    if (trust === undefined) return refuse(400, 'InvalidIdentityToken', 'No OpenIDConnect provider found in your account');
    if (!(durationSeconds >= 900 && durationSeconds <= 43_200)) {
      return refuse(400, 'ValidationError', `DurationSeconds ${durationSeconds} is outside 900..43200`);
    }
    const verdict = await authorizeWebIdentity(form.get('WebIdentityToken') ?? '', roleArn, trust, now());
    if (!verdict.ok) {
      call.claims = undefined;
      return refuse(verdict.status, verdict.code, verdict.message);
    }
    const claims = verdict.claims;
    call.claims = claims;
    const subject = `<SubjectFromWebIdentityToken>${claims.sub}</SubjectFromWebIdentityToken>`;
    session(res, 'AssumeRoleWithWebIdentity', roleArn, roleSessionName, durationSeconds, subject);
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    assumeCalls,
    webIdentityCalls,
    get throttled() {
      return throttled;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A Query-protocol list: `<name>.member.1.<field>`, `<name>.member.2.<field>`, ...; undefined when absent. */
function memberList(form: URLSearchParams, name: string, field: string): string[] | undefined {
  const values: string[] = [];
  for (let n = 1; form.has(`${name}.member.${n}.${field}`); n++) values.push(form.get(`${name}.member.${n}.${field}`) as string);
  return values.length > 0 ? values : undefined;
}

function xml(res: http.ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/xml' }).end(body);
}

function xmlError(res: http.ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'text/xml' })
    .end(
      `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>` +
        '<RequestId>demo</RequestId></ErrorResponse>',
    );
}

/** STS's message for a parameter over its length constraint. */
function tooLong(parameter: string, max: number): string {
  return `1 validation error detected: Value at '${parameter}' failed to satisfy constraint: Member must have length less than or equal to ${max}`;
}
