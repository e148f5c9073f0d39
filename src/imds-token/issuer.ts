import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS } from '../imds-protocol/index.js';
import type { Clock } from '../time/index.js';
import { fixedKeyRing, type TokenKeyRing } from './key-ring.js';

// A c2 token is about 65 characters; anything much longer is not ours, refused before any work.
const MAX_TOKEN_LENGTH = 128;

/**
 * IMDSv2 session tokens of our own: `c2.<key id>.<expiry>.<HMAC(key, id, caller IP, expiry)>`, so
 * no state is kept per token. The key id picks the signing key from the node's key ring
 * (key-store.ts), so tokens stay valid across agent restarts and key rotations.
 */
export interface TokenIssuer {
  mint(ip: string, ttlSeconds: number): string;
  /** True only for a token we minted, for this IP, that has not expired, with a key still accepted. */
  verify(token: string, ip: string): boolean;
}

const KEY_ID = /^[0-9a-z]{1,12}$/;

// Tokens that passed the whole check, so the GETs that follow skip the split, the HMAC and the
// buffers (about 1 KB allocated per request): an SDK reuses one token for hours. Bounded, as the
// callers are; a token that falls out is just checked in full again.
const VERIFIED_TOKENS = 1024;

/** What a verified token was bound to, all of it checked again on every hit. */
interface Verified {
  ip: string;
  expiresAt: number;
  id: string;
  /** The secret it was checked with: a key id whose file was replaced by another secret must not hit. */
  secret: Buffer;
}

/** `keys`: the node's key ring, or one fixed secret (tests); default a random in-memory secret. */
export function createTokenIssuer(clock: Clock, keys: Buffer | TokenKeyRing = randomBytes(32)): TokenIssuer {
  const ring = Buffer.isBuffer(keys) ? fixedKeyRing(keys) : keys;
  const verified = new LRUCache<string, Verified>({ max: VERIFIED_TOKENS });
  const sign = (secret: Buffer, id: string, ip: string, expiry: string) => createHmac('sha256', secret).update(`${id}\n${ip}\n${expiry}`).digest('base64url');
  return {
    mint(ip, ttlSeconds) {
      const key = ring.signingKey();
      const expiry = (clock.now() + ttlSeconds * 1000).toString(36);
      return `c2.${key.id}.${expiry}.${sign(key.secret, key.id, ip, expiry)}`;
    },
    verify(token, ip) {
      const seen = verified.get(token);
      if (seen !== undefined && seen.ip === ip) {
        const now = clock.now();
        const held = ring.lookup(seen.id);
        return seen.expiresAt > now && held !== undefined && held.key.secret === seen.secret && (held.acceptUntil === undefined || held.acceptUntil > now);
      }
      return verifyInFull(token, ip);
    },
  };

  function verifyInFull(token: string, ip: string): boolean {
    if (token.length > MAX_TOKEN_LENGTH) return false;
    const [version, id, expiry, mac, extra] = token.split('.');
    if (version !== 'c2' || id === undefined || expiry === undefined || mac === undefined || extra !== undefined || !KEY_ID.test(id)) return false;
    const expiresAt = parseInt(expiry, 36);
    const now = clock.now();
    if (!Number.isFinite(expiresAt) || expiresAt.toString(36) !== expiry || expiresAt <= now) return false;
    const held = ring.lookup(id);
    if (held === undefined || (held.acceptUntil !== undefined && held.acceptUntil <= now)) return false;
    const expected = Buffer.from(sign(held.key.secret, id, ip, expiry));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    verified.set(token, { ip, expiresAt, id, secret: held.key.secret });
    return true;
  }
}

/** Parses the TTL header: a whole number of seconds in 1..21600, as real IMDS requires. */
export function parseTokenTtl(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\d{1,5}$/.test(header.trim())) return undefined;
  const ttl = Number(header.trim());
  return ttl >= MIN_TOKEN_TTL_SECONDS && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined;
}
