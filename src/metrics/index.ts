export { createMetrics } from './metrics.js';
export type { Metrics, Route, DecisionReason, WatchResource } from './metrics.js';
export type { CounterHandle, HistogramHandle } from './deferred.js';
