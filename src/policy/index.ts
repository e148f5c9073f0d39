export { decideRole } from './decide.js';
export type { Decision, DecisionInput, DenyReason, PolicyOptions, RoleSource } from './decide.js';
export { resolveRole, lastSegment } from './role-arn.js';
export type { RoleRef } from './role-arn.js';
