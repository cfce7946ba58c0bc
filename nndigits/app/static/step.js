// One step of mini-batch SGD taken apart (eq. 6, 9, 18-21): what the Learn tab's Step mode shows.
//
// A plain ES module without the DOM (page and Node alike; step-view.js draws it). The step itself is
// sgd.js's sgdStep, the page's own engine, run on a copy of the network: Delta w and Delta b are the
// copy's weights after it minus the weights before, so what the view shows is what the engine does
// (tests/js/step.test.mjs checks them against the NumPy reference, nndigits/core/scratch.py, to 1e-12).
// Everything is float64. nndigits.api.one_step is the same view for Python (nndigits/studies/one_step.py).
import { cloneNetwork, evaluate, feedforward, sgdStep, sparseImages } from "./sgd.js";

/** Where the eq. 9 curve is measured: t in [0, 2], t = 1 the step taken. */
export const T = Array.from({ length: 41 }, (_, i) => i / 20);

/** C_x = ||y(x) - a||^2 / 2 for output activations a and the digit y (eq. 6 for one input). */
export function exampleCost(a, label) {
  let s = 0;
  for (let j = 0; j < a.length; j++) {
    const d = (j === label ? 1 : 0) - a[j];
    s += d * d;
  }
  return s / 2;
}

/** Each input's output activations a(x) (the last layer of feedforward, eq. 4). */
export const outputsOf = (net, xs) => xs.map((x) => feedforward(net, x)[net.weights.length]);

/** The quadratic cost of inputs xs with digits labels: C = (1/n) sum_x C_x (eq. 6). */
export function cost(net, xs, labels) {
  const outputs = outputsOf(net, xs);
  return outputs.reduce((s, a, e) => s + exampleCost(a, labels[e]), 0) / xs.length;
}

/** The network at w + t Delta w, b + t Delta b: t = 1 is the step, t = 2 a step of twice the eta. */
export function along(net, step, t) {
  const moved = cloneNetwork(net);
  moved.weights.forEach((w, l) => { for (let i = 0; i < w.length; i++) w[i] += t * step.deltaW[l][i]; });
  moved.biases.forEach((b, l) => { for (let j = 0; j < b.length; j++) b[j] += t * step.deltaB[l][j]; });
  return moved;
}

/** One step of SGD on the mini-batch (xs, labels), eq. 20-21, and what it did; ``net`` is not changed.
 *
 * Returns {after, outputs, costs, outputsAfter, costsAfter, costBefore, costAfter, deltaW, deltaB,
 * gradientNorm2}: after is the network after sgdStep; outputs and costs are each example's a(x) and C_x
 * before the step, outputsAfter and costsAfter after it; deltaW[l]
 * (row-major [out][in], as the network's weights) and deltaB[l] are after minus before, i.e.
 * -(eta/m) sum_x dC_x/dw; gradientNorm2 = ||grad C||^2 = ||Delta v||^2 / eta^2 (Delta v = -eta grad C, eq. 10). */
export function takeStep(net, xs, labels, eta) {
  const outputs = outputsOf(net, xs);
  const costs = outputs.map((a, e) => exampleCost(a, labels[e]));
  const after = sgdStep(cloneNetwork(net), xs, labels, eta);
  const outputsAfter = outputsOf(after, xs);
  const costsAfter = outputsAfter.map((a, e) => exampleCost(a, labels[e]));
  const deltaW = after.weights.map((w, l) => w.map((v, i) => v - net.weights[l][i]));
  const deltaB = after.biases.map((b, l) => b.map((v, j) => v - net.biases[l][j]));
  let norm2 = 0;
  for (const d of [...deltaW, ...deltaB]) for (let i = 0; i < d.length; i++) norm2 += d[i] * d[i];
  return {
    eta, after, outputs, costs, outputsAfter, costsAfter, deltaW, deltaB,
    costBefore: costs.reduce((s, c) => s + c, 0) / xs.length,
    costAfter: costsAfter.reduce((s, c) => s + c, 0) / xs.length,  // = cost(after, xs, labels), bit for bit
    gradientNorm2: norm2 / (eta * eta),
  };
}

/** Examples ``indices`` of MNIST bytes (n x 784) and labels as a set of sgd.js's sparseImages: the form
 * sgd.js's evaluate reads fast (nonzero pixels only; the same sums as the dense loops, bit for bit). */
export function subset(images, labels, indices, size = 784) {
  const bytes = new Uint8Array(indices.length * size);
  indices.forEach((e, i) => bytes.set(images.subarray(e * size, (e + 1) * size), i * size));
  return sparseImages(bytes, Uint8Array.from(indices, (e) => labels[e]), indices.length, size);
}

/** Eq. 9 along the step: the costs at w + t Delta w for each t, of the mini-batch and of a sample (both
 * sets of sparseImages, see ``subset``; the sample optional, e.g. 1,000 training images), beside eq. 9's
 * straight line for the mini-batch, Delta C = grad C . (t Delta v) = -t eta ||grad C||^2. */
export function eq9Curve(net, step, batch, sample = null, ts = T) {
  const nets = ts.map((t) => along(net, step, t));
  return {
    t: ts,
    batch: nets.map((n) => evaluate(n, batch).cost),
    sample: sample ? nets.map((n) => evaluate(n, sample).cost) : null,
    predicted: ts.map((t) => -t * step.eta * step.gradientNorm2),
  };
}
