// mnist.js: gzipped IDX files unpacked with DecompressionStream and parsed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { gunzip, parseIdx } from "../../nndigits/app/static/mnist.js";

function idx(shape, data) {
  const header = new Uint8Array(4 + 4 * shape.length);
  header.set([0, 0, 8, shape.length]);
  const view = new DataView(header.buffer);
  shape.forEach((s, i) => view.setUint32(4 + 4 * i, s, false));
  return new Uint8Array([...header, ...data]);
}

test("a gzipped IDX file round-trips", async () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 7);
  const parsed = parseIdx(await gunzip(gzipSync(idx([2, 3, 4], data))));
  assert.deepEqual(parsed.shape, [2, 3, 4]);
  assert.deepEqual(Array.from(parsed.data), Array.from(data));
});

test("a damaged IDX file is a one-line error naming it", () => {
  assert.throws(() => parseIdx(new Uint8Array([1, 2, 3, 4]), "x.idx"), /^Error: x.idx is not an IDX file \(bad magic number\)$/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 13, 1, 0, 0, 0, 1, 5]), "x.idx"), /IDX type 13/);
  assert.throws(() => parseIdx(idx([5], [1, 2, 3]), "x.idx"), /has 11 bytes, but its header \[5\] needs 13/);
});
