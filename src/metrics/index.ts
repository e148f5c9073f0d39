export { createMetrics } from './metrics.js';
export type { Metrics, SessionLifetimes } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
