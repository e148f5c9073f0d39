import type { Session, SessionKey } from './types.js';

/** Last STS failure for a key, kept for explain, logs and metrics. */
export interface KeyFailure {
  code: string;
  message: string;
  at: number;
  /** When the next attempt is scheduled, if any. */
  nextAttemptAt: number | undefined;
}

export interface KeyStatus {
  session: { expiration: number; issuedAt: number } | undefined;
  lastFailure: KeyFailure | undefined;
}

/** What the IMDS routes and explain need from the session cache. */
export interface CredentialSource {
  /** A cached session with at least min-remaining left, synchronously; undefined otherwise. The hot path. */
  peek(key: SessionKey): Session | undefined;
  /** Cached, joined in flight, or assumed now. Rejects with CredentialsUnavailableError. */
  get(key: SessionKey): Promise<Session>;
  /** Start assuming in the background (pod appeared); errors are kept, not thrown. */
  prefetch(key: SessionKey): void;
  /** Keep only these keys; sessions no pod uses any more are dropped and their refresh stops. */
  retain(keys: Iterable<SessionKey>): void;
  status(key: SessionKey): KeyStatus;
}

/** No session with min-remaining left exists and STS did not give one: the pod gets 503. */
export class CredentialsUnavailableError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CredentialsUnavailableError';
  }
}
