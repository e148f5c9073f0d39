export { createMetrics } from './metrics.js';
export type { Metrics, Route, DecisionReason, StsResult, CacheResult } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
