/**
 * Cuts a byte stream into frames, each a 4-byte big-endian length and that many bytes (a protobuf
 * watch answer: one WatchEvent per frame). Chunks may end anywhere, in a length or in a frame;
 * only complete frames come out.
 */
export class FrameSplitter {
  private readonly chunks: Buffer[] = [];
  private held = 0;

  /** Bytes held for a frame not yet complete. */
  get pendingLength(): number {
    return this.held;
  }

  /** The length the next frame announces, once its four bytes are in (a bound on what will be held). */
  get announcedLength(): number | undefined {
    return this.held >= 4 ? this.peek(4).readUInt32BE(0) : undefined;
  }

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.held += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      const length = this.announcedLength;
      if (length === undefined || this.held < 4 + length) return frames;
      frames.push(this.take(4 + length).subarray(4));
    }
  }

  /** The first `count` held bytes, joined (without taking them). */
  private peek(count: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= count) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    this.chunks.push(joined);
    return joined;
  }

  private take(count: number): Buffer {
    const joined = this.peek(count);
    const rest = joined.subarray(count);
    this.chunks.shift();
    if (rest.length > 0) this.chunks.unshift(rest);
    this.held -= count;
    return joined.subarray(0, count);
  }
}
