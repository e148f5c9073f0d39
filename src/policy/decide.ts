import { parseNamespacePolicy, type NamespacePolicy } from './namespace-policy.js';
import { NO_BASE_ADVICE, resolveRole, truncate, type RoleRef } from './role-arn.js';
import type { AnnotationKeys, NamespaceFacts, PodFacts, ServiceAccountFacts } from './types.js';

export type RoleSource = 'pod-annotation' | 'service-account' | 'namespace-default';
export type DenyReason = 'unknown-pod' | 'ambiguous-ip' | 'unknown-namespace' | 'no-role' | 'not-allowed' | 'malformed-annotation' | 'no-base-role-arn';

export type Decision =
  | {
      allowed: true;
      role: RoleRef;
      source: RoleSource;
      externalId: string | undefined;
      /** The namespace's inline session policy as compact JSON (AssumeRole's Policy). */
      sessionPolicy: string | undefined;
      /** The namespace's managed session policy ARNs (AssumeRole's PolicyArns). */
      policyArns: readonly string[] | undefined;
      requested: string;
    }
  | { allowed: false; reason: DenyReason; message: string; requested: string | undefined };

export interface PolicyOptions {
  annotations: AnnotationKeys;
  baseRoleArn: string | undefined;
  serviceAccountRoles: boolean;
}

export interface DecisionInput {
  pod: PodFacts;
  namespace: NamespaceFacts | undefined;
  serviceAccount: ServiceAccountFacts | undefined;
}

const policies = new WeakMap<object, NamespacePolicy>();

/**
 * What a namespace's annotations allow, as decideRole reads them. Parsing is cached per
 * annotations object: the watch replaces it on every change.
 */
export function namespacePolicy(namespace: NamespaceFacts, options: PolicyOptions): NamespacePolicy {
  let policy = policies.get(namespace.annotations);
  if (policy === undefined) {
    policy = parseNamespacePolicy(namespace.annotations, options.annotations, options.baseRoleArn);
    policies.set(namespace.annotations, policy);
  }
  return policy;
}

/**
 * Which role a pod gets, in this order: pod annotation, then ServiceAccount annotation
 * (when enabled), then the namespace default. A chosen role must be allowed by the namespace.
 * Pure: never throws, never does I/O; the message is safe to show the pod.
 */
export function decideRole({ pod, namespace, serviceAccount }: DecisionInput, options: PolicyOptions): Decision {
  const keys = options.annotations;
  const podRole = pod.annotations[keys.role];
  const saRole = options.serviceAccountRoles ? serviceAccount?.annotations[keys.serviceAccountRole] : undefined;
  const requested = podRole ?? saRole;
  if (namespace === undefined) {
    return deny('unknown-namespace', `namespace ${pod.namespace} is not known yet`, requested);
  }
  const policy = namespacePolicy(namespace, options);
  if (policy.problem !== undefined) {
    return deny('malformed-annotation', `namespace ${namespace.name} has a malformed annotation: ${policy.problem}`, requested);
  }
  const chosen: [string, RoleSource] | undefined =
    podRole !== undefined ? [podRole, 'pod-annotation'] : saRole !== undefined ? [saRole, 'service-account'] : undefined;
  if (chosen === undefined) {
    if (policy.defaultRoleNeedsBase !== undefined) {
      const name = truncate(policy.defaultRoleNeedsBase);
      return deny(
        'no-base-role-arn',
        `namespace ${namespace.name} names its default role "${name}" by short name, but the agent has no --base-role-arn: ${NO_BASE_ADVICE}`,
        policy.defaultRoleNeedsBase,
      );
    }
    if (policy.defaultRole === undefined) return deny('no-role', `no role annotation on pod ${pod.name} or namespace ${namespace.name}`, undefined);
    return { allowed: true, role: policy.defaultRole, source: 'namespace-default', ...sessionOf(policy), requested: policy.defaultRole.arn };
  }
  const [text, source] = chosen;
  const resolved = resolveRole(text, options.baseRoleArn);
  if (!resolved.ok) {
    const where = source === 'pod-annotation' ? `pod ${pod.name}` : `serviceaccount ${pod.serviceAccountName}`;
    if (resolved.noBase) {
      const why = `${where} asks for role "${truncate(text.trim())}" by short name, but the agent has no --base-role-arn: ${NO_BASE_ADVICE}`;
      return deny('no-base-role-arn', why, text);
    }
    return deny('malformed-annotation', `${where} has a malformed role annotation: ${resolved.problem}`, text);
  }
  if (!policy.allows(resolved.role)) {
    // Short entries might have been meant to allow it; say so rather than a bare not-allowed.
    if (policy.shortPatternsWithoutBase > 0 || policy.defaultRoleNeedsBase !== undefined) {
      return deny(
        'no-base-role-arn',
        `role ${resolved.role.name} is not allowed in namespace ${namespace.name}: ` +
          `its short role names match nothing while the agent has no --base-role-arn: ${NO_BASE_ADVICE}`,
        resolved.role.arn,
      );
    }
    return deny('not-allowed', `role ${resolved.role.name} is not allowed in namespace ${namespace.name}`, resolved.role.arn);
  }
  return { allowed: true, role: resolved.role, source, ...sessionOf(policy), requested: resolved.role.arn };
}

/** What the namespace adds to every AssumeRole call of its pods. */
function sessionOf(policy: NamespacePolicy): { externalId: string | undefined; sessionPolicy: string | undefined; policyArns: readonly string[] | undefined } {
  return { externalId: policy.externalId, sessionPolicy: policy.sessionPolicy, policyArns: policy.policyArns };
}

function deny(reason: DenyReason, message: string, requested: string | undefined): Decision {
  return { allowed: false, reason, message, requested };
}
