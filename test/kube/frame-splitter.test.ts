import t from 'tap';
import { FrameSplitter } from '../../src/kube/frame-splitter.js';

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

const FRAMES = ['first event', '', 'a longer third event with ünïcode', 'x'.repeat(300)];
const STREAM = Buffer.concat(FRAMES.map(frame));

t.test('frames come out whole wherever the stream is cut, in lengths and in bodies', async (t) => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const splitter = new FrameSplitter();
    const out = [...splitter.push(STREAM.subarray(0, cut)), ...splitter.push(STREAM.subarray(cut))].map((b) => b.toString());
    if (JSON.stringify(out) !== JSON.stringify(FRAMES)) t.fail(`cut at ${cut}: ${JSON.stringify(out)}`);
    t.equal(splitter.pendingLength, 0);
  }
  t.pass('every cut of the stream');
});

t.test('a stream fed one byte at a time gives every frame once, each when its last byte arrives', async (t) => {
  const splitter = new FrameSplitter();
  const out: string[] = [];
  for (let i = 0; i < STREAM.length; i++) out.push(...splitter.push(STREAM.subarray(i, i + 1)).map((b) => b.toString()));
  t.same(out, FRAMES);
});

t.test('the announced length of an incomplete frame is known once its four bytes are in (a bound before the body arrives)', async (t) => {
  const splitter = new FrameSplitter();
  t.same(splitter.push(Buffer.from([0x10, 0x00])), []);
  t.equal(splitter.announcedLength, undefined);
  t.same(splitter.push(Buffer.from([0x00, 0x00, 0x61])), []);
  t.equal(splitter.announcedLength, 0x10000000, '256 MiB announced');
  t.equal(splitter.pendingLength, 5);
});
