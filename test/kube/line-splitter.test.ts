import fc from 'fast-check';
import t from 'tap';
import { LineSplitter } from '../../src/kube/line-splitter.js';

function splitAll(bytes: Buffer, cuts: number[]): string[] {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    lines.push(...splitter.push(bytes.subarray(from, cut)));
    from = cut;
  }
  lines.push(...splitter.push(bytes.subarray(from)));
  lines.push(...splitter.end());
  return lines;
}

t.test('lines come out whole wherever the chunks end, inside a multi-byte character too', async (t) => {
  const events = [
    JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', annotations: { note: 'grüße 🚀' } } } }),
    JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'b' } } }),
  ];
  const bytes = Buffer.from(`${events.join('\n')}\n`);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 }), (cuts) => {
      const lines = splitAll(bytes, cuts);
      return JSON.stringify(lines) === JSON.stringify(events);
    }),
  );
  // One byte at a time is the worst case; spelled out so a failure shows the lines.
  t.same(splitAll(bytes, Array.from({ length: bytes.length }, (_, i) => i)), events);
});

t.test('a last line without its newline is returned by end', async (t) => {
  const splitter = new LineSplitter();
  t.same(splitter.push(Buffer.from('{"type":"ADDED"}\n{"type":"DEL')), ['{"type":"ADDED"}']);
  t.equal(splitter.pendingLength, '{"type":"DEL'.length, 'the partial line is held');
  t.same(splitter.push(Buffer.from('ETED"}')), []);
  t.same(splitter.end(), ['{"type":"DELETED"}']);
  t.same(splitter.end(), [], 'nothing twice');
});
