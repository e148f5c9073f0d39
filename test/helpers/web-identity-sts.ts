import { randomBytes } from 'node:crypto';
import { authorizeWebIdentity, type TokenClaims, type WebIdentityTrust } from '../../demo/oidc-token.js';
import { AssumeRoleError, type AssumeRequest, type Session, type WebIdentitySts } from '../../src/credentials/index.js';
import type { Clock } from '../../src/time/index.js';

/** One AssumeRoleWithWebIdentity call as the stand-in judged it. */
export interface WebIdentityCall {
  request: AssumeRequest;
  claims: TokenClaims | undefined;
  refused: string | undefined;
}

/**
 * STS's AssumeRoleWithWebIdentity in process, on the agent's clock, deciding as STS does
 * (demo/oidc-token.ts: signature against the issuer's keys, issuer, audience, expiry, then the
 * role's `sub` and `aud` conditions); a session as long as asked, at most 12 h, only then.
 */
export class FakeWebIdentitySts implements WebIdentitySts {
  readonly calls: WebIdentityCall[] = [];

  constructor(
    private readonly clock: Clock,
    readonly trust: WebIdentityTrust,
  ) {}

  async assumeWithWebIdentity(request: AssumeRequest, token: string): Promise<Session> {
    const call: WebIdentityCall = { request: structuredClone(request), claims: undefined, refused: undefined };
    this.calls.push(call);
    const now = this.clock.now();
    const verdict = await authorizeWebIdentity(token, request.roleArn, this.trust, now);
    if (!verdict.ok) {
      call.refused = verdict.code;
      throw new AssumeRoleError(verdict.message, verdict.code, false);
    }
    call.claims = verdict.claims;
    const durationSeconds = Math.min(request.durationSeconds, 43_200);
    const [, account = '', path = ''] = /^arn:aws:iam::(\d{12}):role\/(.*)$/.exec(request.roleArn) ?? [];
    return {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(60).toString('base64'),
      expiration: now + durationSeconds * 1000,
      issuedAt: now,
      assumedRoleArn: `arn:aws:sts::${account}:assumed-role/${path.split('/').pop() ?? ''}/${request.roleSessionName}`,
    };
  }
}
