export { createCloseStack } from './close-stack.js';
export type { CloseStack } from './close-stack.js';
