// sgd.js on its own: the generator, the forward pass, and the fast epoch loop against the reference step.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cloneNetwork, createNetwork, engineChoice, evaluate, feedforward, generator, inputOf, networkFrom, sgdStep,
  shuffled, sigmoid, sparseImages, trainEpoch,
} from "../../nndigits/app/static/sgd.js";

// Digit-like data: bytes with most pixels 0, as in MNIST.
function fakeDigits(n, seed) {
  const rng = generator(seed), images = new Uint8Array(n * 784), labels = new Uint8Array(n);
  for (let e = 0; e < n; e++) {
    labels[e] = rng.below(10);
    for (let k = 0; k < 784; k++) if (rng.uniform() < 0.2) images[e * 784 + k] = rng.below(256);
  }
  return { images, labels };
}
const same = (a, b) => a.weights.every((w, l) => w.every((v, i) => Object.is(v, b.weights[l][i]))) &&
  a.biases.every((w, l) => w.every((v, i) => Object.is(v, b.biases[l][i])));

test("the generator is seeded: one seed, one sequence; N(0, 1) draws", () => {
  const a = generator(42), b = generator(42), c = generator(43);
  const xs = Array.from({ length: 20000 }, a.normal);
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, b.normal));
  assert.notEqual(xs[0], c.normal());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length, variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.04, `mean ${mean}, variance ${variance}`);
  const order = shuffled(1000, generator(1));
  assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
});

test("feedforward is eq. 4 layer by layer", () => {
  const net = networkFrom([2, 2, 1], [[1, -2, 0.5, 3], [2, -1]], [[0.1, -0.2], [0.3]]);
  const acts = feedforward(net, [0.5, 1]);
  const h = [sigmoid(1 * 0.5 - 2 * 1 + 0.1), sigmoid(0.5 * 0.5 + 3 * 1 - 0.2)];
  assert.deepEqual(Array.from(acts[1]), h);
  assert.deepEqual(Array.from(acts[2]), [sigmoid(2 * h[0] - 1 * h[1] + 0.3)]);
  assert.throws(() => networkFrom([2, 2, 1], [[1, 2, 3], [1, 1]], [[0, 0], [0]]), /layer 0 does not fit/);
});

test("one sgdStep lowers the cost of its mini-batch (eq. 20-21 descend)", () => {
  const { images, labels } = fakeDigits(10, 3);
  const net = createNetwork([784, 30, 10], generator(3));
  const xs = Array.from({ length: 10 }, (_, e) => inputOf(images, e)), ys = Array.from(labels);
  const cost = () => xs.reduce((s, x, e) => s + feedforward(net, x).at(-1).reduce((t, a, j) => t + (a - (j === ys[e] ? 1 : 0)) ** 2 / 2, 0), 0);
  const before = cost();
  sgdStep(net, xs, ys, 0.5);
  assert.ok(cost() < before);
});

for (const sizes of [[784, 30, 10], [784, 10], [784, 17, 12, 10]]) {
  for (const use of ["wasm", "js"]) {
    test(`trainEpoch (${use}) is sgdStep bit for bit, ${JSON.stringify(sizes)}`, () => {
      engineChoice.use = use;
      try {
        const { images, labels } = fakeDigits(205, 7);
        const data = sparseImages(images, labels);
        const fast = createNetwork(sizes, generator(11)), slow = cloneNetwork(fast);
        const order = shuffled(205, generator(12));  // 20 batches of 10, then one of 5
        const result = trainEpoch(fast, data, order, 10, 3.0);
        for (let s = 0; s < order.length; s += 10) {
          const batch = Array.from(order.subarray(s, s + 10));
          sgdStep(slow, batch.map((e) => inputOf(images, e)), batch.map((e) => labels[e]), 3.0);
        }
        assert.ok(same(fast, slow));
        assert.equal(result.seen, 205);
        const score = evaluate(fast, data);
        let correct = 0;
        for (let e = 0; e < 205; e++) {
          const a = feedforward(fast, inputOf(images, e)).at(-1);
          if (a.indexOf(Math.max(...a)) === labels[e]) correct++;
        }
        assert.equal(score.correct, correct);
      } finally {
        engineChoice.use = "wasm";
      }
    });
  }
}

test("trainEpoch stops between mini-batches when asked", () => {
  const { images, labels } = fakeDigits(100, 5);
  const net = createNetwork([784, 30, 10], generator(1));
  let asked = 0;
  const result = trainEpoch(net, sparseImages(images, labels), shuffled(100, generator(2)), 10, 3.0, () => ++asked > 3);
  assert.equal(result.seen, 30);
  assert.ok(result.stopped);
});
