import http from 'node:http';
import autocannon from 'autocannon';

export interface SaturationResult {
  /** 2xx answers per second over the measured window. */
  rps: number;
  /** 2xx answers in the measured window. */
  ok: number;
  non2xx: number;
  errors: number;
}

/**
 * Closed-loop saturation with autocannon (a much cheaper client than node:http): `connections`
 * keep-alive connections from 127.0.0.1, each sending its next request when the answer arrives.
 */
export async function saturate(url: string, path: string, seconds: number, connections: number): Promise<SaturationResult> {
  const result = await autocannon({ url: url + path, connections, pipelining: 1, duration: seconds, timeout: 5 });
  return { rps: result['2xx'] / result.duration, ok: result['2xx'], non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

export interface FixedRateResult {
  /** Requests sent in the measured window. */
  sent: number;
  ok: number;
  failed: number;
  /** Achieved answers per second. */
  rps: number;
  /** Milliseconds from when each request was due (not when it left), so client stalls count. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface FixedRateOptions {
  url: string;
  path: string | ((source: string) => string);
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Source addresses (pods) to send from, round-robin; each gets its own keep-alive pool. */
  sources: readonly string[];
  socketsPerSource: number;
  /** Expected status; anything else counts as failed. */
  expect?: number;
  /** Called right before and right after the measured window (after the warm-up), e.g. to sample server CPU. */
  around?: { before(): Promise<void>; after(): Promise<void> };
}

/**
 * Open-loop load at a fixed rate: requests are scheduled at `rate` per second whatever the
 * answers do, and latency is measured from the scheduled time, so a slow server or a stalled
 * client shows up in the percentiles instead of silently lowering the rate.
 */
export async function fixedRate(options: FixedRateOptions): Promise<FixedRateResult> {
  const target = new URL(options.url);
  const expect = options.expect ?? 200;
  const pools = options.sources.map((source) => ({
    source,
    agent: new http.Agent({ keepAlive: true, maxSockets: options.socketsPerSource, localAddress: source }),
    path: typeof options.path === 'string' ? options.path : options.path(source),
  }));
  try {
    await run(options.warmupMs, () => undefined);
    await options.around?.before();
    const latencies: number[] = [];
    let ok = 0;
    let failed = 0;
    const started = performance.now();
    const sent = await run(options.durationMs, (due, status) => {
      if (status === expect) {
        ok++;
        latencies.push(performance.now() - due);
      } else failed++;
    });
    const elapsed = (performance.now() - started) / 1000;
    await options.around?.after();
    latencies.sort((a, b) => a - b);
    return {
      sent,
      ok,
      failed,
      rps: ok / elapsed,
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? Number.NaN,
    };
  } finally {
    for (const pool of pools) pool.agent.destroy();
  }

  function run(durationMs: number, done: (due: number, status: number) => void): Promise<number> {
    const interval = 1000 / options.rate;
    const start = performance.now();
    const end = start + durationMs;
    let count = 0;
    let pending = 0;
    let ticking = true;
    return new Promise((resolve) => {
      const settle = () => {
        if (!ticking && pending === 0) resolve(count);
      };
      const fire = (due: number) => {
        const pool = pools[count % pools.length]!;
        count++;
        pending++;
        // Exactly once per request, whichever of end, error or an early close comes first.
        let finished = false;
        const finish = (status: number) => {
          if (finished) return;
          finished = true;
          pending--;
          done(due, status);
          settle();
        };
        const request = http.request(
          { host: target.hostname, port: target.port, path: pool.path, agent: pool.agent, localAddress: pool.source },
          (response) => {
            response.on('error', () => finish(0));
            response.on('end', () => finish(response.statusCode ?? 0));
            response.on('close', () => finish(0));
            response.resume();
          },
        );
        request.setTimeout(5000, () => request.destroy(new Error('timeout')));
        request.on('error', () => finish(0));
        request.end();
      };
      const tick = () => {
        const now = performance.now();
        for (let due = start + count * interval; due <= now && due < end; due = start + count * interval) fire(due);
        const next = start + count * interval;
        if (next < end) setTimeout(tick, Math.max(0, next - performance.now()));
        else {
          ticking = false;
          settle();
        }
      };
      tick();
    });
  }
}

/** The q-quantile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  // An even count: the mean of the middle two, not the upper one.
  return sorted.length % 2 === 0 && sorted.length > 0 ? (sorted[mid - 1]! + sorted[mid]!) / 2 : percentile(sorted, 0.5);
}

/** Rounds of one measure: their median, and how far apart the extremes are. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median: 0.2 means the rounds lie within 20% of the median's size. */
  spread: number;
  rounds: number[];
}

export function spread(values: readonly number[]): Spread {
  const mid = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { median: mid, min, max, spread: Math.abs((max - min) / mid), rounds: [...values] };
}

/** One GET; resolves with status, body and headers. */
export function get(url: string, path: string, source?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: target.hostname, port: target.port, path, agent: false, ...(source ? { localAddress: source } : {}) },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
        response.on('close', () => reject(new Error(`GET ${path}: closed before the end of the answer`)));
      },
    );
    request.setTimeout(10_000, () => request.destroy(new Error(`GET ${path}: timeout`)));
    request.on('error', reject);
    request.end();
  });
}
