import { StringDecoder } from 'node:string_decoder';

/**
 * Cuts a byte stream into lines (a watch answer: one JSON event per line). Chunks may end anywhere,
 * in a line or inside a multi-byte character; only complete lines come out, and `end` returns a
 * last line that had no newline.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  /** Characters held for a line not yet complete: a stream that never sends a newline grows this. */
  get pendingLength(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): string[] {
    return this.take(this.decoder.write(chunk));
  }

  end(): string[] {
    const lines = this.take(this.decoder.end());
    if (this.pending !== '') lines.push(this.pending);
    this.pending = '';
    return lines;
  }

  private take(text: string): string[] {
    // Only the new text can hold a newline: a long line in many chunks is scanned once.
    let searchFrom = this.pending.length;
    const all = this.pending + text;
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const newline = all.indexOf('\n', searchFrom);
      if (newline === -1) break;
      lines.push(all.slice(start, newline));
      start = searchFrom = newline + 1;
    }
    this.pending = all.slice(start);
    return lines;
  }
}
