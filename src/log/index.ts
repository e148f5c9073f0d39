export { createLogger } from './logger.js';
export type { Logger } from './logger.js';
export { createLogThrottle } from './throttle.js';
export type { LogThrottle } from './throttle.js';
