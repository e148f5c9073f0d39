import { AssumeRoleError, type AssumeRequest, type RoleAssumer, type Session } from '../../src/credentials/index.js';
import type { Clock } from '../../src/time/index.js';

type Step = AssumeRoleError | 'hold';

/**
 * A RoleAssumer that answers like STS (sessions of the requested duration) and records every
 * call. `failNext` / `holdNext` script what the next calls do; when the script is empty,
 * `failWith` (when set) fails every call, else the call succeeds.
 */
export class FakeAssumer implements RoleAssumer {
  readonly calls: AssumeRequest[] = [];
  /** `calledAt[i]` is the clock's time when `calls[i]` was made. */
  readonly calledAt: number[] = [];
  failWith: AssumeRoleError | undefined;
  /** When set, sessions last this many seconds whatever was asked (a role's MaxSessionDuration). */
  grantSeconds: number | undefined;
  private readonly script: Step[] = [];
  private readonly held: Array<() => void> = [];
  private issued = 0;

  constructor(private readonly clock: Clock) {}

  /** The next `count` calls fail with this error. */
  failNext(error: AssumeRoleError, count = 1): void {
    for (let i = 0; i < count; i++) this.script.push(error);
  }

  /** The next call waits for `release()` before succeeding. */
  holdNext(): void {
    this.script.push('hold');
  }

  /** Lets every held call go on and succeed. */
  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }

  async assume(request: AssumeRequest): Promise<Session> {
    this.calls.push(request);
    this.calledAt.push(this.clock.now());
    const step = this.script.shift() ?? this.failWith;
    if (step instanceof AssumeRoleError) throw step;
    if (step === 'hold') await new Promise<void>((resolve) => this.held.push(resolve));
    const n = ++this.issued;
    const now = this.clock.now();
    const roleName = request.roleArn.slice(request.roleArn.lastIndexOf('/') + 1);
    return {
      accessKeyId: `ASIAFAKE${String(n).padStart(12, '0')}`,
      secretAccessKey: `secret-value-${n}`,
      sessionToken: `token-value-${n}`,
      expiration: now + (this.grantSeconds ?? request.durationSeconds) * 1000,
      issuedAt: now,
      assumedRoleArn: `arn:aws:sts::${request.roleArn.split(':')[4]}:assumed-role/${roleName}/${request.roleSessionName}`,
    };
  }
}

export const throttled = () => new AssumeRoleError('Rate exceeded', 'Throttling', true);
export const internalFailure = () => new AssumeRoleError('We encountered an internal error', 'InternalFailure', true);
export const accessDenied = (message = 'not authorized to perform sts:AssumeRole') => new AssumeRoleError(message, 'AccessDenied', false);
