import { createHash } from 'node:crypto';
import type { Session } from '../credentials/index.js';
import type { RoleRef } from '../policy/index.js';
import { prebuiltText, type PrebuiltText } from './text-reply.js';

/** `YYYY-MM-DDTHH:MM:SSZ`: what real IMDS sends and botocore parses; never fractions. */
export function imdsTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export interface CredentialDocuments {
  /** security-credentials/<name> */
  plain: string;
  /** security-credentials-extended/<name>: the same plus AccountId. */
  extended: string;
  /** The two as answers, headers included, so a cached request only sends them. */
  plainReply: PrebuiltText;
  extendedReply: PrebuiltText;
}

// A session's documents never change, so they are rendered once and reused for every request.
const rendered = new WeakMap<Session, CredentialDocuments>();

export function credentialDocuments(session: Session, role: RoleRef): CredentialDocuments {
  let docs = rendered.get(session);
  if (docs === undefined) {
    const body = {
      Code: 'Success',
      LastUpdated: imdsTime(session.issuedAt),
      Type: 'AWS-HMAC',
      AccessKeyId: session.accessKeyId,
      SecretAccessKey: session.secretAccessKey,
      Token: session.sessionToken,
      Expiration: imdsTime(session.expiration),
    };
    const plain = JSON.stringify(body, null, 2);
    const extended = JSON.stringify({ ...body, AccountId: role.accountId }, null, 2);
    docs = { plain, extended, plainReply: prebuiltText(plain), extendedReply: prebuiltText(extended) };
    rendered.set(session, docs);
  }
  return docs;
}

/** iam/info for a role: an instance-profile-shaped answer derived from the role, stable across calls. */
export function iamInfoDocument(role: RoleRef, lastUpdated: number): string {
  const partition = role.arn.split(':')[1];
  const id = createHash('sha256').update(role.arn).digest('hex').slice(0, 17).toUpperCase();
  return JSON.stringify(
    {
      Code: 'Success',
      LastUpdated: imdsTime(lastUpdated),
      InstanceProfileArn: `arn:${partition}:iam::${role.accountId}:instance-profile/${role.name}`,
      InstanceProfileId: `AIPA${id}`,
    },
    null,
    2,
  );
}
