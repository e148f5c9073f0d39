export { systemClock, systemScheduler } from './clock.js';
export type { Clock, Scheduler, Timer } from './clock.js';
export { parseDuration, formatDuration } from './duration.js';
