/**
 * The knobs `npm run bench` and `npm run bench:memory` share, from BENCH_* variables, so both
 * measure the same scale, rate and load by default.
 */
export const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
/** The scale cluster: pods on the node, namespaces, roles. */
export const SCALE = { pods: env('BENCH_PODS', 250), namespaces: env('BENCH_NAMESPACES', 2000), roles: env('BENCH_ROLES', 500) };
/** The fixed rate (req/s) and how long the scale part runs it (s). */
export const FIXED_RATE = env('BENCH_RATE', 2000);
export const FIXED_SECONDS = env('BENCH_RATE_SECONDS', 10);
/** One saturated round (s) and its keep-alive connections. */
export const SATURATION_SECONDS = env('BENCH_SATURATION_SECONDS', 5);
export const CONNECTIONS = env('BENCH_CONNECTIONS', 16);
/** Saturated warm-up per server before the rounds: with 3 s the agent's first rounds still cost 20% more CPU per answer than its last. */
export const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 10);
/** The STS stand-in's answer time (ms). */
export const STS_LATENCY_MS = env('BENCH_STS_LATENCY_MS', 75);
