export { createMetrics } from './metrics.js';
export type { Metrics, WatchResource } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
