import { AssumeRoleError, type AssumeRequest, type RoleAssumer, type Session } from '../../src/credentials/index.js';
import type { Clock } from '../../src/time/index.js';

type Outcome = 'succeed' | AssumeRoleError | Promise<void>;

/**
 * A RoleAssumer that answers like STS (sessions of the requested duration) and records every
 * call. `failNext` / `holdNext` script what the next calls do.
 */
export class FakeAssumer implements RoleAssumer {
  readonly calls: AssumeRequest[] = [];
  private readonly script: Outcome[] = [];
  private issued = 0;
  failWith: AssumeRoleError | undefined;

  constructor(private readonly clock: Clock) {}

  /** The next `count` calls fail with this error. */
  failNext(error: AssumeRoleError, count = 1): void {
    for (let i = 0; i < count; i++) this.script.push(error);
  }

  /** The next call waits for `until` before succeeding. */
  holdNext(until: Promise<void>): void {
    this.script.push(until);
  }

  async assume(request: AssumeRequest): Promise<Session> {
    this.calls.push(request);
    const outcome = this.script.shift() ?? this.failWith ?? 'succeed';
    if (outcome instanceof AssumeRoleError) throw outcome;
    if (outcome !== 'succeed') await outcome;
    const n = ++this.issued;
    const now = this.clock.now();
    const roleName = request.roleArn.slice(request.roleArn.lastIndexOf('/') + 1);
    return {
      accessKeyId: `ASIAFAKE${String(n).padStart(12, '0')}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `token-${n}`,
      expiration: now + request.durationSeconds * 1000,
      issuedAt: now,
      assumedRoleArn: `arn:aws:sts::${request.roleArn.split(':')[4]}:assumed-role/${roleName}/${request.roleSessionName}`,
    };
  }
}

export const throttled = () => new AssumeRoleError('Rate exceeded', 'Throttling', true);
export const accessDenied = () => new AssumeRoleError('not authorized to perform sts:AssumeRole', 'AccessDenied', false);
