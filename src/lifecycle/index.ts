export { createCloseStack } from './close-stack.js';
