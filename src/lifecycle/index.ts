export { createCloseStack } from './close-stack.js';
export { awaitSuccessor } from './handover.js';
export type { Handover } from './handover.js';
