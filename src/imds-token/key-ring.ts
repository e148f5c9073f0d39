/** One signing key. */
export interface TokenKey {
  /** Carried in the token so verification picks the key: the generation, or m<hex> for a memory key. */
  id: string;
  secret: Buffer;
}

/** A key the ring holds, and until when tokens signed with it are accepted (undefined: no limit). */
export interface HeldKey {
  key: TokenKey;
  acceptUntil: number | undefined;
}

/** What the token issuer needs, synchronously, on every request. */
export interface TokenKeyRing {
  /** The key new tokens are signed with. */
  signingKey(): TokenKey;
  /** The key with this id, and until when tokens signed with it are accepted. */
  lookup(id: string): HeldKey | undefined;
}

/** A ring of one key that never retires (tests, a secret passed to buildApp). */
export function fixedKeyRing(secret: Buffer): TokenKeyRing {
  const held = { key: { id: '0', secret }, acceptUntil: undefined };
  return { signingKey: () => held.key, lookup: (id) => (id === '0' ? held : undefined) };
}
