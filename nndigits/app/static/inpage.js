// What the static site computes in the page where the app's server would: a reading of a digit (app/inside.py),
// the perceptron circuits' truth tables (app/gates.py) and the sigmoid beside the step. A plain ES module.
import { feedforward } from "./sgd.js";

/** A reading of one 784-vector (app/inside.py's look_inside): outputs, guess, runner-up, and the first hidden
 * layer ordered by how much each neuron pushed the guess (a_j w_guess,j; by activation in deeper networks). */
export function lookInside(net, x) {
  const acts = feedforward(net, x), outputs = Array.from(acts.at(-1), Math.fround);
  const ranked = outputs.map((v, d) => [v, d]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const guess = ranked[0][1];
  let hidden = [];
  if (acts.length > 2) {
    const first = Array.from(acts[1], Math.fround), n = first.length;
    const push = acts.length === 3 ? first.map((a, j) => Math.fround(a * Math.fround(net.weights[1][guess * n + j]))) : first;
    hidden = first.map((a, j) => ({ neuron: j, activation: a, push: push[j] })).sort((p, q) => q.push - p.push || p.neuron - q.neuron);
  }
  return { guess, confidence: ranked[0][0], runner_up: ranked[1][1], outputs, hidden };
}

/** The NAND perceptron's and the half adder's truth tables (app/gates.py's shapes) from their weights and
 * wiring: a perceptron outputs 1 if w . x + b > 0, else 0 (eq. 2). */
export function evaluateCircuits({ nand, half_adder }) {
  const inputs = [[0, 0], [0, 1], [1, 0], [1, 1]];
  const fire = (w, x, b) => { const z = w.reduce((s, wi, i) => s + wi * x[i], 0) + b; return [z, z > 0 ? 1 : 0]; };
  const nandRows = inputs.map((x) => { const [z, out] = fire(nand.weights, x, nand.bias); return { x, z, out }; });
  const rows = inputs.map((x) => {
    const wires = { x1: x[0], x2: x[1] };
    for (const g of half_adder.gates) wires[g.name] = fire(g.weights, g.reads.map((r) => wires[r]), g.bias)[1];
    const outputs = Object.fromEntries(Object.entries(half_adder.outputs).map(([name, wire]) => [name, wires[wire]]));
    return { x, wires, outputs };
  });
  return { nand: { ...nand, rows: nandRows }, half_adder: { ...half_adder, rows } };
}

/** sigma(c z) and step(z) for z in [-4, 4] at 161 points (app/gates.py's sigmoid_curve): as c grows the
 * sigmoid neuron becomes a perceptron. */
export function sigmoidCurve(c, points = 161, span = 4) {
  const z = Array.from({ length: points }, (_, i) => -span + (2 * span * i) / (points - 1));
  return {
    c, z: z.map((v) => Math.round(v * 1e4) / 1e4),
    sigmoid: z.map((v) => Math.round(1e5 / (1 + Math.exp(-c * v))) / 1e5),
    step: z.map((v) => (v > 0 ? 1 : 0)),  // a perceptron with w = 1, b = 0 (eq. 1)
  };
}
