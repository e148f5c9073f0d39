import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../time/index.js';

export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;
const MAX_TOKEN_LENGTH = 128;

/** IMDSv2 session tokens of our own: HMAC over (caller IP, expiry), so no state is kept per token. */
export interface TokenIssuer {
  mint(ip: string, ttlSeconds: number): string;
  /** True only for a token we minted, for this IP, that has not expired. */
  verify(token: string, ip: string): boolean;
}

export function createTokenIssuer(clock: Clock, secret: Buffer = randomBytes(32)): TokenIssuer {
  const sign = (ip: string, expiry: string) => createHmac('sha256', secret).update(`${ip}\n${expiry}`).digest('base64url');
  return {
    mint(ip, ttlSeconds) {
      const expiry = (clock.now() + ttlSeconds * 1000).toString(36);
      return `c1.${expiry}.${sign(ip, expiry)}`;
    },
    verify(token, ip) {
      if (token.length > MAX_TOKEN_LENGTH) return false;
      const [version, expiry, mac, extra] = token.split('.');
      if (version !== 'c1' || expiry === undefined || mac === undefined || extra !== undefined) return false;
      const expiresAt = parseInt(expiry, 36);
      if (!Number.isFinite(expiresAt) || expiresAt.toString(36) !== expiry || expiresAt <= clock.now()) return false;
      const expected = Buffer.from(sign(ip, expiry));
      const given = Buffer.from(mac);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** Parses the TTL header: a whole number of seconds in 1..21600, as real IMDS requires. */
export function parseTokenTtl(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\d{1,5}$/.test(header.trim())) return undefined;
  const ttl = Number(header.trim());
  return ttl >= MIN_TOKEN_TTL_SECONDS && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined;
}
