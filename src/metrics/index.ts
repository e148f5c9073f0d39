export { createMetrics } from './metrics.js';
export type { Metrics, StsResult, CacheResult, WatchResource } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
