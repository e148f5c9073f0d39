import { Writable } from 'node:stream';

/** One parsed pino line. */
export type LogLine = Record<string, unknown>;

/**
 * A logger destination that keeps every line, parsed, as pino's own test/helper.js `sink()`
 * does: pass it to `createLogger(level, sink)` and read `lines`, or wait for one.
 */
export class LogSink extends Writable {
  /** Every line written so far, in order. */
  readonly lines: LogLine[] = [];
  private readonly waiters = new Set<(line: LogLine) => void>();
  private partial = '';

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const texts = (this.partial + chunk.toString()).split('\n');
    this.partial = texts.pop() ?? '';
    try {
      for (const text of texts) if (text) this.record(JSON.parse(text) as LogLine);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  /** Resolves with the first line, logged so far or later, that `match` accepts. */
  waitFor(match: (line: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const waiter = (line: LogLine) => {
        if (!match(line)) return;
        this.waiters.delete(waiter);
        resolve(line);
      };
      this.waiters.add(waiter);
    });
  }

  private record(line: LogLine): void {
    this.lines.push(line);
    for (const waiter of this.waiters) waiter(line);
  }
}

/** A fresh LogSink. */
export function sink(): LogSink {
  return new LogSink();
}
