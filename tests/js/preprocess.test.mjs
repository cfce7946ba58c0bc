// preprocess.js on its own (tests/test_static_js.py compares it with use/images.py): MNIST's geometry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { grayFromRgba, mnistFromGray, resize } from "../../nndigits/app/static/preprocess.js";

test("a dark stroke on white paper lands in a 20x20 box, its mass centred at (14, 14)", () => {
  const w = 200, h = 150, gray = new Float32Array(w * h).fill(1);
  for (let y = 20; y < 130; y++) for (let x = 90; x < 104; x++) gray[y * w + x] = 0;  // a "1"
  const x = mnistFromGray(gray, w, h);
  let mass = 0, my = 0, mx = 0, top = 28, bottom = -1;
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) {
    const v = x[r * 28 + c];
    mass += v; my += v * r; mx += v * c;
    if (v > 0.2) { top = Math.min(top, r); bottom = Math.max(bottom, r); }
  }
  assert.ok(Math.abs(my / mass - 14) <= 0.5 && Math.abs(mx / mass - 14) <= 0.5, `${my / mass}, ${mx / mass}`);
  assert.equal(bottom - top + 1, 20);
  assert.equal(Math.max(...x), 1);
});

test("a blank picture has no ink", () => {
  assert.throws(() => mnistFromGray(new Float32Array(100).fill(0.7), 10, 10, "blank.png"), /^Error: blank.png: the image has no ink/);
});

test("grey levels as PIL's convert('L'), transparency flattened onto white", () => {
  const gray = grayFromRgba(Uint8ClampedArray.from([255, 0, 0, 255, 0, 0, 0, 0]), 2, 1);
  assert.equal(gray[0], Math.fround(76 / 255));  // L = 299 * 255 / 1000, rounded; float32 as NumPy has it
  assert.equal(gray[1], 1);  // a transparent pixel is paper
});

test("resizing keeps a constant image constant (the filters' weights sum to 1)", () => {
  const out = resize(new Float32Array(37 * 23).fill(0.5), 37, 23, 20, 12, "lanczos");
  assert.ok(out.every((v) => Math.abs(v - 0.5) < 1e-6));
});
