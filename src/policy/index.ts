export { decideRole, namespacePolicy } from './decide.js';
export type { Decision, DenyReason, PolicyOptions, RoleSource } from './decide.js';
export { compileGlob } from './glob.js';
export type { NamespacePolicy } from './namespace-policy.js';
export type { AnnotationKeys } from './types.js';
export type { RoleRef } from './role-arn.js';
export { policyWarnings } from './warnings.js';
