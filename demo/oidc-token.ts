import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';

/** A JSON Web Key Set, as an OIDC issuer publishes it at its jwks_uri. */
export interface JsonWebKeySet {
  keys: ReadonlyArray<JsonWebKey & { kid?: string; alg?: string }>;
}

/** The claims STS reads from a Kubernetes ServiceAccount token. */
export interface TokenClaims {
  iss: string;
  sub: string;
  aud: readonly string[];
  exp: number;
  iat?: number;
  nbf?: number;
  /** The API server's own claim: namespace, serviceaccount, and the pod (and node) the token is bound to. */
  'kubernetes.io'?: {
    namespace?: string;
    serviceaccount?: { name?: string; uid?: string };
    pod?: { name?: string; uid?: string };
    node?: { name?: string; uid?: string };
  };
}

/** Why a token was refused, in STS's terms: the error code STS answers with, and its message. */
class TokenRejected extends Error {
  constructor(
    readonly code: 'InvalidIdentityToken' | 'ExpiredTokenException',
    message: string,
  ) {
    super(message);
    this.name = 'TokenRejected';
  }
}

const ALGORITHMS: Readonly<Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }>> = {
  RS256: { hash: 'sha256' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

/**
 * What STS checks of a web identity token before it looks at the role's trust: the signature
 * against the issuer's published keys (by `kid`), the issuer, that the audience is one the
 * provider lists, and the time window. Returns the claims; throws TokenRejected.
 */
function verifyIdentityToken(token: string, provider: { issuer: string; audiences: readonly string[]; jwks: JsonWebKeySet }, nowMs: number): TokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenRejected('InvalidIdentityToken', 'The web identity token is not a JWT');
  const [headerText, payloadText, signatureText] = parts as [string, string, string];
  let header: { alg?: string; kid?: string };
  let claims: TokenClaims;
  try {
    header = JSON.parse(Buffer.from(headerText, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(payloadText, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    throw new TokenRejected('InvalidIdentityToken', 'The web identity token could not be parsed');
  }
  const algorithm = ALGORITHMS[header.alg ?? ''];
  if (algorithm === undefined) throw new TokenRejected('InvalidIdentityToken', `Unsupported token signing algorithm ${String(header.alg)}`);
  if (claims.iss !== provider.issuer) {
    throw new TokenRejected('InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${String(claims.iss)}`);
  }
  const jwk = provider.jwks.keys.find((key) => key.kid === header.kid);
  if (jwk === undefined) throw new TokenRejected('InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider');
  const signed = Buffer.from(`${headerText}.${payloadText}`);
  const signature = Buffer.from(signatureText, 'base64url');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const valid = verify(algorithm.hash, signed, algorithm.dsaEncoding ? { key, dsaEncoding: algorithm.dsaEncoding } : key, signature);
  if (!valid) throw new TokenRejected('InvalidIdentityToken', 'The web identity token\'s signature does not verify');
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : [...(claims.aud ?? [])];
  if (!audiences.some((aud) => provider.audiences.includes(aud))) throw new TokenRejected('InvalidIdentityToken', 'Incorrect token audience');
  const now = Math.floor(nowMs / 1000);
  if (typeof claims.exp !== 'number' || now >= claims.exp) {
    throw new TokenRejected('ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time ${String(claims.exp)}`);
  }
  if (typeof claims.nbf === 'number' && now < claims.nbf) throw new TokenRejected('InvalidIdentityToken', 'The token is not valid yet (nbf)');
  return { ...claims, aud: audiences };
}

/**
 * An IAM OIDC provider for the cluster's issuer (its audiences, `sts.amazonaws.com` for IRSA) and
 * each role's trust policy: `sub` (StringEquals `<issuer>:sub`, one or several) and `aud`
 * (StringEquals `<issuer>:aud`). A role not listed trusts no web identity.
 */
export interface WebIdentityTrust {
  issuer: string;
  audiences: readonly string[];
  /** The issuer's keys, as published at its jwks_uri. */
  jwks(): JsonWebKeySet | Promise<JsonWebKeySet>;
  roles: ReadonlyMap<string, { sub: readonly string[]; aud: string }>;
}

export type WebIdentityVerdict = { ok: true; claims: TokenClaims } | { ok: false; status: number; code: string; message: string };

/**
 * What STS decides for AssumeRoleWithWebIdentity: the token against the provider (signature by the
 * issuer's keys, issuer, audience, expiry), then the role's trust conditions on `sub` and `aud`.
 */
export async function authorizeWebIdentity(token: string, roleArn: string, trust: WebIdentityTrust, nowMs: number): Promise<WebIdentityVerdict> {
  let claims: TokenClaims;
  try {
    claims = verifyIdentityToken(token, { issuer: trust.issuer, audiences: trust.audiences, jwks: await trust.jwks() }, nowMs);
  } catch (error) {
    if (error instanceof TokenRejected) return { ok: false, status: 400, code: error.code, message: error.message };
    throw error;
  }
  const role = trust.roles.get(roleArn);
  if (role === undefined || !role.sub.includes(claims.sub) || !claims.aud.includes(role.aud)) {
    return { ok: false, status: 403, code: 'AccessDenied', message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity' };
  }
  return { ok: true, claims };
}
