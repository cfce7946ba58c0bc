// The Step mode's numbers (nndigits/app/static/step.js) against the NumPy reference, and eq. 9.
//
//   node --test tests/js/
//
// The fixture (tests/js/fixtures/step.json, or $STEP_FIXTURE) is written by tests/js/step_fixture.py: steps of
// nndigits/core/scratch.py's update_mini_batch from given weights on given MNIST images. The page's step,
// through sgd.js's sgdStep, must make the same Delta w and Delta b to 1e-12.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { createNetwork, generator, inputOf, networkFrom, sparseImages } from "../../nndigits/app/static/sgd.js";
import { along, cost, eq9Curve, exampleCost, subset, takeStep, T } from "../../nndigits/app/static/step.js";

const path = process.env.STEP_FIXTURE || new URL("./fixtures/step.json", import.meta.url);
const fixture = JSON.parse(readFileSync(path, "utf8"));
const f64 = (b64) => { const b = Buffer.from(b64, "base64"); return new Float64Array(b.buffer, b.byteOffset, b.length / 8).slice(); };
const images = new Uint8Array(Buffer.from(fixture.images, "base64")), labels = Uint8Array.from(fixture.labels);
const xsOf = (batch) => batch.map((e) => inputOf(images, e));

function maxGap(a, b) {
  assert.equal(a.length, b.length);
  let gap = 0;
  for (let i = 0; i < a.length; i++) gap = Math.max(gap, Math.abs(a[i] - b[i]));
  return gap;
}

for (const c of fixture.cases) {
  test(`the page's step is the NumPy reference's step: ${c.name}`, () => {
    const net = networkFrom(c.sizes, c.weights.map(f64), c.biases.map(f64));
    const step = takeStep(net, xsOf(c.batch), c.batch.map((e) => labels[e]), c.eta);
    c.deltaW.forEach((d, l) => {
      const expected = f64(d);
      assert.ok(expected.some((v) => v !== 0), "the reference step moved layer " + l);
      assert.ok(maxGap(step.deltaW[l], expected) <= 1e-12, `Delta w of layer ${l}: ${maxGap(step.deltaW[l], expected)}`);
    });
    c.deltaB.forEach((d, l) => assert.ok(maxGap(step.deltaB[l], f64(d)) <= 1e-12, `Delta b of layer ${l}`));
    assert.ok(Math.abs(step.costBefore - c.costBefore) <= 1e-12 && Math.abs(step.costAfter - c.costAfter) <= 1e-12);
    assert.equal(maxGap(net.weights[0], f64(c.weights[0])), 0, "the network stepped from is not changed");
  });
}

// The book's [784, 30, 10], fresh from the page's generator, on the fixture's first 10 images.
const net = createNetwork([784, 30, 10], generator(1));
const batch = [...Array(10).keys()], xs = xsOf(batch), ys = batch.map((e) => labels[e]);

test("C_x and the mini-batch cost are eq. 6", () => {
  const step = takeStep(net, xs, ys, 3);
  step.outputs.forEach((a, e) => {
    let s = 0;
    for (let j = 0; j < 10; j++) s += ((j === ys[e] ? 1 : 0) - a[j]) ** 2;
    assert.equal(step.costs[e], s / 2);
    assert.equal(exampleCost(a, ys[e]), step.costs[e]);
  });
  assert.ok(Math.abs(step.costBefore - step.costs.reduce((p, q) => p + q) / 10) < 1e-15);
  assert.equal(step.costAfter, cost(step.after, xs, ys));
});

for (const eta of [3, 30]) {
  test(`eq. 9: the curve's slope at t = 0 is -eta ||grad C||^2 (eta = ${eta})`, () => {
    const step = takeStep(net, xs, ys, eta), h = 1e-4;
    const curve = eq9Curve(net, step, subset(images, labels, batch), null, [-h, 0, h]);
    const slope = (curve.batch[2] - curve.batch[0]) / (2 * h), expected = -eta * step.gradientNorm2;
    assert.ok(step.gradientNorm2 > 0);
    assert.ok(Math.abs(slope - expected) <= 1e-6 * Math.abs(expected), `slope ${slope}, eq. 9 ${expected}`);
    [-h, 0, h].forEach((t, i) => assert.ok(Math.abs(curve.predicted[i] - t * expected) <= 1e-15 * Math.abs(expected)));
  });
}

test("the curve at t = 1 is the step taken; the sample is the 30 images' cost", () => {
  const step = takeStep(net, xs, ys, 3);
  const sample = sparseImages(images, labels, 30);
  const curve = eq9Curve(net, step, subset(images, labels, batch), sample);
  assert.equal(curve.t, T);
  assert.ok(Math.abs(curve.batch[0] - step.costBefore) < 1e-15);
  assert.ok(Math.abs(curve.batch[20] - step.costAfter) < 1e-12 && T[20] === 1);
  const all = [...Array(30).keys()];
  assert.ok(Math.abs(curve.sample[0] - cost(net, xsOf(all), all.map((e) => labels[e]))) < 1e-12);
  assert.ok(Math.abs(curve.sample[20] - cost(along(net, step, 1), xsOf(all), all.map((e) => labels[e]))) < 1e-12);
});
