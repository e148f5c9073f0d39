import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { JsonWebKeySet } from './oidc-token.js';

/** The key id of the issuer's one signing key, as its JWKS names it. */
const KEY_ID = 'corridor-stand-in-sa-key';

/** A TokenRequest as the API server receives it, with what it looked up for it. */
export interface BoundTokenRequest {
  namespace: string;
  serviceAccount: string;
  pod: { readonly name: string; readonly uid: string };
  audience: string;
  expirationSeconds: number;
  /** The ServiceAccount object, if it exists. */
  account: { metadata: { uid?: string } } | undefined;
  /** The pod of that name in the namespace, if it exists. */
  boundPod: { metadata: { uid?: string }; spec?: unknown } | undefined;
}

export type TokenAnswer = { ok: true; token: string; expiration: number } | { ok: false; status: number; message: string };

/**
 * The API server's ServiceAccount token issuer (--service-account-issuer with an ES256 key, as the
 * test control plane's): `issue` answers a TokenRequest as the API server does (the ServiceAccount
 * must exist, the bound pod must exist with that uid and run as that ServiceAccount, at least 10
 * minutes) and signs the claims it sets; `jwks` is what it publishes at /openid/v1/jwks, for an
 * STS stand-in to verify against. `now` stamps the tokens (iat, exp).
 */
export class TokenIssuer {
  private signingKey: { privateKey: KeyObject; publicKey: KeyObject } | undefined;

  constructor(
    readonly issuer = 'https://kubernetes.default.svc.cluster.local',
    private readonly now: () => number = Date.now,
  ) {}

  /** The issuer's public keys, as the API server serves them at /openid/v1/jwks. */
  jwks(): JsonWebKeySet {
    return { keys: [{ ...this.key().publicKey.export({ format: 'jwk' }), kid: KEY_ID, alg: 'ES256', use: 'sig' }] };
  }

  issue(request: BoundTokenRequest): TokenAnswer {
    const fail = (status: number, message: string): TokenAnswer => ({ ok: false, status, message });
    if (request.account === undefined) return fail(404, `serviceaccounts "${request.serviceAccount}" not found`);
    if (request.expirationSeconds < 600) return fail(400, 'spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes');
    const pod = request.boundPod;
    if (pod === undefined) return fail(404, `pods "${request.pod.name}" not found`);
    if (pod.metadata.uid !== request.pod.uid) {
      return fail(
        409,
        `the UID in the bound object reference (${request.pod.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    }
    const spec = (pod.spec ?? {}) as { serviceAccountName?: string; nodeName?: string };
    if (spec.serviceAccountName !== request.serviceAccount) {
      return fail(400, `cannot bind token for serviceaccount "${request.serviceAccount}" to pod running with different serviceaccount name.`);
    }
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + request.expirationSeconds;
    const claims = {
      aud: [request.audience],
      exp,
      iat,
      nbf: iat,
      iss: this.issuer,
      sub: `system:serviceaccount:${request.namespace}:${request.serviceAccount}`,
      'kubernetes.io': {
        namespace: request.namespace,
        serviceaccount: { name: request.serviceAccount, uid: request.account.metadata.uid },
        pod: { name: request.pod.name, uid: request.pod.uid },
        ...(spec.nodeName ? { node: { name: spec.nodeName, uid: `node-${spec.nodeName}` } } : {}),
      },
    };
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${encode({ alg: 'ES256', kid: KEY_ID })}.${encode(claims)}`;
    const signature = sign('sha256', Buffer.from(signed), { key: this.key().privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return { ok: true, token: `${signed}.${signature}`, expiration: exp * 1000 };
  }

  private key(): { privateKey: KeyObject; publicKey: KeyObject } {
    this.signingKey ??= generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return this.signingKey;
  }
}
