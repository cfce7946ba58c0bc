// The chapter's network and mini-batch SGD in float64 JavaScript: what the static site trains with.
//
// A plain ES module (no build step): it runs in the page, in a Web Worker and in Node. It is the book's
// network.py, step for step, and is checked against the NumPy reference (nndigits/core/scratch.py):
// from the same initial weights and the same order of examples, the weights after 500 steps agree to 1e-12
// (tests/test_static_js.py).
//
// A network is {sizes, weights, biases}: weights[l] a Float64Array of sizes[l+1] x sizes[l], row-major
// [out][in] (the book's w[j][k]: from neuron k of layer l to neuron j of layer l+1), biases[l] a Float64Array
// of sizes[l+1]. Everything here is float64, the precision of the book's own code.
import { jsEngine } from "./kernels.js";
import { wasmEngine } from "./wasm.js";

/** MNIST's pixel byte b as the float the Python side trains on: float32(b / 255) (torch: .float().div_(255)). */
export const PIXEL = Float64Array.from({ length: 256 }, (_, b) => Math.fround(b / 255));

/** A seeded generator (xoshiro128**, seeded by splitmix32): uniform(), normal() ~ N(0, 1), below(n).
 * Integer arithmetic only, except normal()'s Math.log and Math.sqrt, so one seed gives one sequence in every
 * browser. It is the page's own generator: the same seed does not give the Python run's weights. */
export function generator(seed) {
  let x = Number(seed) >>> 0;
  const splitmix = () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix(), splitmix(), splitmix(), splitmix()]);
  const rotl = (v, k) => (v << k) | (v >>> (32 - k));
  function next() {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  let spare = null;
  const uniform = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;  // [0, 1), 53 bits
  return {
    next,
    uniform,
    below: (n) => Math.floor(uniform() * n),
    normal() {  // Marsaglia's polar method
      if (spare !== null) { const v = spare; spare = null; return v; }
      let u, v, q;
      do { u = 2 * uniform() - 1; v = 2 * uniform() - 1; q = u * u + v * v; } while (q >= 1 || q === 0);
      const f = Math.sqrt((-2 * Math.log(q)) / q);
      spare = v * f;
      return u * f;
    },
  };
}

/** A new network of the given sizes, every weight and bias drawn from N(0, 1) as in the book (biases first). */
export function createNetwork(sizes, rng) {
  const biases = [], weights = [];
  for (let l = 0; l + 1 < sizes.length; l++) biases.push(Float64Array.from({ length: sizes[l + 1] }, rng.normal));
  for (let l = 0; l + 1 < sizes.length; l++) weights.push(Float64Array.from({ length: sizes[l + 1] * sizes[l] }, rng.normal));
  return { sizes: [...sizes], weights, biases };
}

/** A network from plain arrays (copied into Float64Arrays); throws if a shape does not fit ``sizes``. */
export function networkFrom(sizes, weights, biases) {
  sizes = sizes.map(Number);
  if (sizes.length < 2 || weights.length !== sizes.length - 1 || biases.length !== sizes.length - 1) {
    throw new Error(`weights/biases do not fit sizes [${sizes}]`);
  }
  const w = weights.map((a) => Float64Array.from(a)), b = biases.map((a) => Float64Array.from(a));
  for (let l = 0; l + 1 < sizes.length; l++) {
    if (w[l].length !== sizes[l + 1] * sizes[l] || b[l].length !== sizes[l + 1]) {
      throw new Error(`layer ${l} does not fit sizes [${sizes}]`);
    }
  }
  return { sizes, weights: w, biases: b };
}

/** A copy of a network (its own arrays). */
export const cloneNetwork = (net) => networkFrom(net.sizes, net.weights, net.biases);

/** sigma(z) = 1 / (1 + e^-z) (eq. 3). */
export const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/** Every layer's activations for one input x (eq. 4: a' = sigma(w a + b)): [x, a^2, ..., a^L], Float64Arrays. */
export function feedforward(net, x) {
  let a = Float64Array.from(x);
  const out = [a];
  for (let l = 0; l < net.weights.length; l++) {
    const w = net.weights[l], b = net.biases[l], n = a.length, next = new Float64Array(b.length);
    for (let j = 0; j < b.length; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += w[j * n + k] * a[k];  // (w a) first, then + b: NumPy's order
      next[j] = sigmoid(s + b[j]);
    }
    out.push((a = next));
  }
  return out;
}

/** One step of mini-batch SGD (eq. 20-21), in place: w -> w - (eta/m) sum_x dC_x/dw, b likewise, for the
 * quadratic cost (eq. 6). xs: m inputs (arrays of sizes[0]); labels: their digits. The book's
 * update_mini_batch: backpropagate each example in turn, summing the gradients, then update. */
export function sgdStep(net, xs, labels, eta) {
  const L = net.weights.length;
  const nw = net.weights.map((w) => new Float64Array(w.length)), nb = net.biases.map((b) => new Float64Array(b.length));
  for (let e = 0; e < xs.length; e++) {
    const acts = feedforward(net, xs[e]);
    const a = acts[L];
    let delta = new Float64Array(a.length);
    for (let j = 0; j < a.length; j++) delta[j] = (a[j] - (j === labels[e] ? 1 : 0)) * (a[j] * (1 - a[j]));
    for (let l = L - 1; l >= 0; l--) {
      const prev = acts[l], n = prev.length, w = net.weights[l];
      for (let j = 0; j < delta.length; j++) {
        nb[l][j] += delta[j];
        for (let k = 0; k < n; k++) nw[l][j * n + k] += delta[j] * prev[k];
      }
      if (l > 0) {  // delta^l = (w^T delta^(l+1)) * sigma'(z^l), with sigma'(z) = a (1 - a); w before its update
        const back = new Float64Array(n);
        for (let k = 0; k < n; k++) {
          let s = 0;
          for (let j = 0; j < delta.length; j++) s += w[j * n + k] * delta[j];
          back[k] = s * (prev[k] * (1 - prev[k]));
        }
        delta = back;
      }
    }
  }
  const c = eta / xs.length;
  for (let l = 0; l < L; l++) {
    const w = net.weights[l], b = net.biases[l];
    for (let i = 0; i < w.length; i++) w[i] = w[i] - c * nw[l][i];
    for (let j = 0; j < b.length; j++) b[j] = b[j] - c * nb[l][j];
  }
  return net;
}

/** Example e of MNIST bytes (n x size) as a Float64Array input, pixels as PIXEL has them. */
export function inputOf(images, e, size = 784) {
  const x = new Float64Array(size);
  for (let k = 0; k < size; k++) x[k] = PIXEL[images[e * size + k]];
  return x;
}

/** A permutation of 0..n-1 (Fisher-Yates, drawing from rng): one epoch's order of examples. */
export function shuffled(n, rng) {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1), t = order[i];
    order[i] = order[j]; order[j] = t;
  }
  return order;
}

/** MNIST bytes (n x size) kept as their nonzero pixels only: most are 0, and a 0 input changes no bit of SGD
 * (w * 0 adds nothing to a sum, and a weight whose gradient is exactly 0 keeps its value). */
export function sparseImages(images, labels, n = labels.length, size = 784) {
  let count = 0;
  for (let i = 0; i < n * size; i++) if (images[i] !== 0) count++;
  const offsets = new Uint32Array(n + 1), index = new Uint16Array(count), value = new Uint8Array(count);
  let p = 0;
  for (let e = 0; e < n; e++) {
    offsets[e] = p;
    for (let k = 0, base = e * size; k < size; k++) {
      const v = images[base + k];
      if (v !== 0) { index[p] = k; value[p++] = v; }
    }
  }
  offsets[n] = p;
  return { n, size, offsets, index, value, labels: Uint8Array.from(labels.subarray ? labels.subarray(0, n) : labels.slice(0, n)) };
}

// Layer 0 over an example's nonzero inputs: the loops that take nearly all of an epoch's time. An engine
// holds layer 0 as [in][out] (row k: the weights from pixel k, stride S >= H) with its gradient sums, and
// runs the three loops: forward(e) (z_j = sum_k w_jk x_k into z), gradient(e, count) (nabla_jk += d_j x_k,
// listing the pixels first met in the mini-batch after the `count` listed) and update(count, c) (w = w - c
// nabla, nabla = 0, for the `count` pixels listed). The WebAssembly
// engine (wasm.js) runs two lanes at once; the JavaScript one is the fallback where there is no
// WebAssembly SIMD (kernels.js). Both do the same arithmetic in the same order as sgdStep.

/** Where the fast loops run: "wasm" (WebAssembly SIMD, where the platform has it) or "js". */
export const engineChoice = { use: "wasm" };

function engine(data, H) {
  data.engines = data.engines || new Map();
  const key = `${engineChoice.use}:${H}`;
  if (!data.engines.has(key)) {
    const made = engineChoice.use === "wasm" ? wasmEngine(data, H, PIXEL) : null;
    data.engines.set(key, made || jsEngine(data, H, PIXEL));
  }
  return data.engines.get(key);
}

// The work arrays of one network shape and sparse set, made once per call: layer 0 copied into the engine.
function workspace(net, data) {
  const sizes = net.sizes, L = sizes.length - 1, H = sizes[1], n0 = sizes[0], eng = engine(data, H), S = eng.S;
  const w0 = net.weights[0];
  for (let j = 0; j < H; j++) for (let k = 0; k < n0; k++) eng.w[k * S + j] = w0[j * n0 + k];
  const deltas = sizes.map((s) => new Float64Array(s));
  deltas[1] = eng.d.subarray(0, H);  // layer 0's delta goes straight to the engine
  return { L, H, n0, S, eng, acts: sizes.map((s) => new Float64Array(s)), deltas };
}

// Layer 0 back from the engine into the network's row-major [out][in] weights.
function release(net, ws) {
  const { H, n0, S, eng } = ws, w0 = net.weights[0];
  for (let j = 0; j < H; j++) for (let k = 0; k < n0; k++) w0[j * n0 + k] = eng.w[k * S + j];
}

// Forward pass of example e of a sparse set (layer 0 by its nonzero inputs): fills ws.acts[1..L].
function forwardSparse(net, ws, e) {
  const { L, H, acts, eng } = ws, a1 = acts[1], z = eng.z, b0 = net.biases[0];
  eng.forward(e);
  for (let j = 0; j < H; j++) a1[j] = 1 / (1 + Math.exp(-(z[j] + b0[j])));
  for (let l = 1; l < L; l++) {
    const w = net.weights[l], b = net.biases[l], a = acts[l], out = acts[l + 1], n = a.length;
    for (let j = 0; j < out.length; j++) {
      let s = 0;
      for (let k = 0, r = j * n; k < n; k++) s += w[r + k] * a[k];
      out[j] = 1 / (1 + Math.exp(-(s + b[j])));
    }
  }
  return acts[L];
}

/** One epoch of mini-batch SGD over a sparse set, in the given order, m at a time (the last batch may be
 * smaller): the same arithmetic as sgdStep on each batch, bit for bit, much faster (zero inputs skipped,
 * layer 0's loops in WebAssembly SIMD or written-out JavaScript). Returns the mean cost C_x of the examples
 * as they were met (before their batch's step). ``stop()``, if given, is asked between batches. */
export function trainEpoch(net, data, order, m, eta, stop = null) {
  const ws = workspace(net, data), { L, H, acts, deltas, eng } = ws, { labels } = data;
  const nw = net.weights.map((w) => new Float64Array(w.length)), nb = net.biases.map((b) => new Float64Array(b.length));
  let cost = 0, seen = 0, stopped = false;
  for (let start = 0; start < order.length; start += m) {
    if (stop && stop()) { stopped = true; break; }
    const end = Math.min(order.length, start + m);
    let nTouched = 0;
    for (let t = start; t < end; t++) {
      const e = order[t], a = forwardSparse(net, ws, e), y = labels[e];
      let delta = deltas[L];
      for (let j = 0; j < a.length; j++) {
        const d = a[j] - (j === y ? 1 : 0);
        cost += 0.5 * d * d;
        delta[j] = d * (a[j] * (1 - a[j]));
      }
      for (let l = L - 1; l >= 1; l--) {
        const prev = acts[l], n = prev.length, w = net.weights[l], g = nw[l], gb = nb[l], back = deltas[l];
        const out = delta.length;
        for (let k = 0; k < n; k++) back[k] = 0;
        for (let j = 0, r = 0; j < out; j++, r += n) {
          const dj = delta[j];
          gb[j] += dj;
          for (let k = 0; k < n; k++) {
            g[r + k] += dj * prev[k];
            back[k] += w[r + k] * dj;  // (w^T delta)_k, summed over j in ascending order
          }
        }
        for (let k = 0; k < n; k++) back[k] = back[k] * (prev[k] * (1 - prev[k]));
        delta = back;
      }
      const gb0 = nb[0];
      for (let j = 0; j < H; j++) gb0[j] += delta[j];
      nTouched = eng.gradient(e, nTouched);  // and lists the pixels first met in this mini-batch
    }
    seen += end - start;
    const c = eta / (end - start);
    eng.update(nTouched, c);  // untouched weights: gradient exactly 0, and w - c * 0 = w
    for (let l = 0; l < L; l++) {
      const b = net.biases[l], gb = nb[l];
      for (let j = 0; j < b.length; j++) { b[j] = b[j] - c * gb[j]; gb[j] = 0; }
      if (l === 0) continue;
      const w = net.weights[l], g = nw[l];
      for (let i = 0; i < w.length; i++) { w[i] = w[i] - c * g[i]; g[i] = 0; }
    }
  }
  release(net, ws);
  return { cost: seen ? cost / seen : NaN, seen, stopped };
}

/** How many of examples [from, to) of a sparse set the network gets right (its answer: the most active output
 * neuron), and their mean quadratic cost C_x = ||y - a||^2 / 2 (eq. 6). */
export function evaluate(net, data, from = 0, to = data.n) {
  const ws = workspace(net, data);
  let correct = 0, cost = 0;
  for (let e = from; e < to; e++) {
    const a = forwardSparse(net, ws, e), y = data.labels[e];
    let best = 0;
    for (let j = 0; j < a.length; j++) {
      if (a[j] > a[best]) best = j;
      const d = a[j] - (j === y ? 1 : 0);
      cost += 0.5 * d * d;
    }
    if (best === y) correct++;
  }
  const n = to - from;
  return { correct, total: n, accuracy: n ? correct / n : NaN, cost: n ? cost / n : NaN };
}
