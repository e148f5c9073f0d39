export { decideRole } from './decide.js';
export type { Decision, PolicyOptions } from './decide.js';
export type { AnnotationKeys } from './types.js';
export type { RoleRef } from './role-arn.js';
export { policyWarnings } from './warnings.js';
