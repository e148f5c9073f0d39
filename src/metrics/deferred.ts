import { Counter, type CounterConfiguration, type LabelValues, type Metric, type MetricValueWithName, type Registry } from 'prom-client';

/**
 * Cheap metric updates for the request path. prom-client hashes and validates the label set on
 * every `labels(...).inc()` and `observe()`, which costs more than the rest of a cached
 * credential answer; here a handle per label set only adds to plain numbers, and prom-client
 * sees the totals whenever the metric is read (a scrape, `get()`), so what is exported is the same.
 */

/** One label set of a counter. */
export interface CounterHandle {
  inc(): void;
}

/** One label set of a histogram. */
export interface HistogramHandle {
  observe(value: number): void;
}

interface Pending {
  labels: LabelValues<string>;
  count: number;
}

/** Counters whose increments can be held back until they are read. */
export class DeferredCounts {
  /** Per counter, one slot per label set (asking twice for a label set gives the same slot). */
  private readonly pending = new Map<object, Map<string, Pending>>();

  /** A prom-client Counter that takes in what its handles hold whenever it is read. */
  counter<T extends string>(config: CounterConfiguration<T>): Counter<T> {
    const fold = (counter: Counter<T>) => this.fold(counter);
    const counter: Counter<T> = new Counter<T>({
      ...config,
      collect() {
        fold(this);
      },
    });
    this.pending.set(counter, new Map());
    return counter;
  }

  handle<T extends string>(counter: Counter<T>, labels: LabelValues<T>): CounterHandle {
    const slots = this.pending.get(counter);
    if (slots === undefined) throw new Error('this counter takes no deferred increments: create it with DeferredCounts.counter');
    const key = Object.keys(labels)
      .sort()
      .map((name) => `${name}=${String(labels[name as T])}`)
      .join(',');
    let slot = slots.get(key);
    if (slot === undefined) slots.set(key, (slot = { labels: { ...labels }, count: 0 }));
    const counted = slot;
    return {
      inc() {
        counted.count++;
      },
    };
  }

  private fold<T extends string>(counter: Counter<T>): void {
    for (const slot of this.pending.get(counter)?.values() ?? []) {
      if (slot.count === 0) continue;
      const count = slot.count;
      slot.count = 0;
      counter.inc(slot.labels, count);
    }
  }
}

interface Series<T extends string> {
  labels: LabelValues<T>;
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export interface FastHistogramConfiguration<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  buckets: readonly number[];
  registers: Registry[];
}

/**
 * A histogram with prom-client's exposition (same series, order and values as its Histogram)
 * whose handles observe with a bucket search and three additions.
 */
export class FastHistogram<T extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly T[];
  private readonly upperBounds: readonly number[];
  /** Replaced, not cleared, by reset(): handles notice the new map and start new series. */
  private series = new Map<string, Series<T>>();

  constructor(config: FastHistogramConfiguration<T>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric<string>);
  }

  /** The handle for one label set; keep it, it is the cheap path. */
  handle(labels: LabelValues<T>): HistogramHandle {
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name as T)) {
        throw new Error(`Added label "${name}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
      }
    }
    const key = this.labelNames.map((name) => `${name}:${labels[name] ?? ''}`).join(',');
    const upperBounds = this.upperBounds;
    let map: Map<string, Series<T>> | undefined;
    let entry: Series<T> | undefined;
    return {
      observe: (value: number) => {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        // The series appears with its first observation (and again after a reset), as with prom-client.
        if (map !== this.series || entry === undefined) {
          map = this.series;
          entry = map.get(key);
          if (entry === undefined) map.set(key, (entry = { labels: { ...labels }, buckets: new Float64Array(upperBounds.length + 1), sum: 0, count: 0 }));
        }
        let i = 0;
        while (i < upperBounds.length && value > upperBounds[i]!) i++;
        entry.buckets[i]!++;
        entry.sum += value;
        entry.count++;
      },
    };
  }

  /** What prom-client's registry reads: the same shape as its Histogram's get(). */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: Array<MetricValueWithName<T>>; aggregator: 'sum' }> {
    const values: Array<MetricValueWithName<T> & { exemplar?: null | undefined }> = [];
    for (const { labels, buckets, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({ value: cumulative, metricName: `${this.name}_bucket`, exemplar: null, labels: { le, ...labels } });
      });
      values.push({ value: count, metricName: `${this.name}_bucket`, exemplar: null, labels: { le: '+Inf', ...labels } });
      values.push({ value: sum, metricName: `${this.name}_sum`, exemplar: undefined, labels: { ...labels } });
      values.push({ value: count, metricName: `${this.name}_count`, exemplar: undefined, labels: { ...labels } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series = new Map();
  }
}
