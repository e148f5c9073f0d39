export { createMetrics } from './metrics.js';
export type { Metrics } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
