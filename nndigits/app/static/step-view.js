// The Learn tab's Step mode: one step of mini-batch SGD at a time, on the real network, in the page.
//
// The numbers come from step.js (the step through sgd.js's sgdStep, the page's own engine); this module
// only loads MNIST and the network, keeps the place in the epoch, and draws. MNIST comes from data/*.gz
// (mnist.js), a trained network from network.json (network.js): the live app and the static site alike.
import { loadMnist, TRAIN_SIZE } from "./mnist.js";
import { loadNetwork } from "./network.js";
import { createNetwork, evaluate, generator, inputOf, shuffled, sparseImages } from "./sgd.js";
import { eq9Curve, exampleCost, outputsOf, subset, takeStep } from "./step.js";

const $ = (id) => document.getElementById(id);
const FIXED = 1000; // the first 1,000 test digits (accuracy) and training images (the eq. 9 sample)
const SHOWN = 20; // mini-batch examples drawn; the rest are counted
const M_MAX = 1000, ETA_MAX = 1e6;
const state = { data: null, net: null, seed: 1, epoch: 0, order: null, cursor: 0, steps: 0, history: [], busy: false, stop: false };
window.NNStep = state; // for the browser test and the curious: the network, the steps taken, their costs

function say(text, kind = "") {
  const msg = $("step-msg");
  msg.textContent = text;
  msg.className = "msg " + kind;
}

function settings() {
  const f = new FormData($("step-form"));
  const read = (name, low, high, whole) => {
    const text = String(f.get(name)).trim(), v = Number(text);
    const ok = text !== "" && Number.isFinite(v) && v >= low && v <= high && (!whole || Number.isInteger(v)) && (whole || v > 0);
    $("step-form").elements[name].classList.toggle("bad", !ok);
    if (!ok) throw new Error(`${name} must be ${whole ? "a whole number" : "a number"} ${whole ? `from ${low}` : "greater than 0"} to ${high}, got "${text}"`);
    return v;
  };
  return { start: f.get("start"), seed: read("seed", 0, 2 ** 32 - 1, true), eta: read("eta", 0, ETA_MAX, false), m: read("m", 1, M_MAX, true) };
}

async function data() {
  if (!state.data) {
    say("Loading MNIST…");
    const { train, test } = await loadMnist();
    state.data = {
      train,
      test: sparseImages(test.images, test.labels, FIXED),
      sample: sparseImages(train.images, train.labels, FIXED),
    };
  }
  return state.data;
}

/** Fresh weights from the seed, or the trained network; a new epoch order from the seed. */
async function start() {
  const s = settings();
  await data();
  if (s.start === "trained") {
    const net = await loadNetwork().catch(() => null);
    if (!net) throw new Error("no trained network to start from: train one (or pick one in the Draw tab) first");
    state.net = net;
  } else state.net = createNetwork([784, 30, 10], generator(s.seed));
  Object.assign(state, { seed: s.seed, epoch: 0, order: epochOrder(s.seed, 0), cursor: 0, steps: 0, history: [] });
  $("step-hidden").innerHTML = "";
  $("step-outputs").innerHTML = "";
  $("step-summary").textContent = "";
  drawCurve(null);
  showBatch(nextBatch(s.m), null);
  const named = state.net.name ? ` (${state.net.name})` : "";
  say(`Ready: ${s.start === "trained" ? `the trained network${named}` : `fresh weights (seed ${s.seed})`}, [${state.net.sizes}]`, "ok");
}

/** Epoch e's order of the 50,000 training images: a function of (seed, e) only. */
const epochOrder = (seed, epoch) => shuffled(TRAIN_SIZE, generator((seed * 1000003 + epoch + 1) >>> 0));

/** The next m images of the epoch (the last mini-batch of an epoch may be smaller), a new epoch after it. */
function nextBatch(m) {
  if (state.cursor >= TRAIN_SIZE) Object.assign(state, { epoch: state.epoch + 1, order: epochOrder(state.seed, state.epoch + 1), cursor: 0 });
  return Array.from(state.order.subarray(state.cursor, Math.min(TRAIN_SIZE, state.cursor + m)));
}

/** One step (eq. 20-21) on the next mini-batch: the network moves on; returns what ``measure`` needs. */
function stepOnce(eta, m) {
  const { train } = state.data, batch = nextBatch(m);
  const xs = batch.map((e) => inputOf(train.images, e)), labels = batch.map((e) => train.labels[e]);
  const before = state.net, step = takeStep(before, xs, labels, eta);
  state.net = step.after;
  state.cursor += batch.length;
  state.steps += 1;
  state.history.push([step.costBefore, step.costAfter]);
  return { before, batch, labels, step };
}

/** What the view shows of a step beyond the step itself: eq. 9's curve, eta = 30, the test accuracy after it. */
function measure({ before, batch, labels, step }) {
  const { train, sample, test } = state.data, mini = subset(train.images, train.labels, batch);
  return {
    batch, labels, step,
    curve: eq9Curve(before, step, mini, sample),
    far: eq9Curve(before, step, mini, null, [0, 30 / step.eta]),
    accuracy: evaluate(step.after, test).accuracy,
  };
}

/** ``count`` steps, the page answering between them (a click on Stop, a tab, anything); then the last one shown. */
async function run(count) {
  if (state.busy) return;
  let s;
  try {
    s = settings();
    if (!state.net) await start();
  } catch (error) { say(error.message, "error"); return; }
  state.busy = true; state.stop = false; buttons();
  let last = null;
  for (let k = 0; k < count && !state.stop; k++) {
    last = stepOnce(s.eta, s.m);
    if (count > 1) {
      $("step-count").textContent = `step ${k + 1} of ${count}…`;
      await new Promise((r) => setTimeout(r, 0)); // a macrotask between steps: events are handled in between
    }
  }
  $("step-count").textContent = "";
  if (last) show(measure(last));
  state.busy = false; buttons();
}

function buttons() {
  for (const id of ["step-1", "step-10", "step-100", "step-reset"]) $(id).disabled = state.busy;
  $("step-stop").disabled = !state.busy;
}

function show({ batch, labels, step, curve, far, accuracy }) {
  const n = state.history.length, fell = state.history.filter(([b, a]) => a < b).length;
  $("step-summary").innerHTML =
    `step ${state.steps} (epoch ${state.epoch}, m = ${batch.length}, η = ${step.eta}): ` +
    `mini-batch cost <b id="step-cost-before">${step.costBefore.toFixed(4)}</b> → <b id="step-cost-after">${step.costAfter.toFixed(4)}</b>; ` +
    `accuracy on 1,000 test digits after it <b id="step-accuracy">${(100 * accuracy).toFixed(1)}%</b>` +
    (n > 1 ? `; each step's mini-batch cost fell on ${fell} of the ${n} steps so far` : "");
  showBatch(batch, step, labels);
  showHidden(step);
  showOutputs(step);
  drawCurve(curve, far, step);
}

// --- drawing -------------------------------------------------------------------------------------------
function digitCanvas(images, e) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 28;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) { const v = images[e * 784 + i]; img.data.set([v, v, v, 255], 4 * i); }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Values as a w x h picture, red +, blue -, scaled by ``top`` (a common scale, so pictures compare). */
function signedCanvas(values, w, h, top) {
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const t = top > 0 ? Math.min(1, Math.abs(values[i]) / top) : 0, fade = Math.round(255 * (1 - t));
    img.data.set(values[i] >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The mini-batch: each image, its label, the ten outputs (before the step) beside y(x), and C_x. */
function showBatch(batch, step, labels = null) {
  const { train } = state.data, box = $("step-batch");
  box.innerHTML = "";
  $("step-batch-title").textContent = step ? `the mini-batch just stepped on: outputs a(x) before the step, C_x before → after` : "the next mini-batch: outputs a(x) now and C_x";
  const shown = batch.slice(0, SHOWN);
  const outputs = step ? step.outputs : outputsOf(state.net, shown.map((e) => inputOf(train.images, e)));
  shown.forEach((e, i) => {
    const label = labels ? labels[i] : train.labels[e], a = outputs[i];
    const div = document.createElement("div");
    div.className = "example";
    div.append(digitCanvas(train.images, e));
    const bars = document.createElement("div");
    bars.className = "outs";
    for (let j = 0; j < 10; j++) {
      const bar = document.createElement("span");
      bar.className = j === label ? "want" : "";
      bar.style.height = `${Math.round(100 * a[j])}%`;
      bar.title = `output ${j}: a = ${a[j].toFixed(3)}, y = ${j === label ? 1 : 0}`;
      bars.append(bar);
    }
    div.append(bars);
    const text = document.createElement("span");
    text.className = "caption";
    const before = step ? step.costs[i] : exampleCost(a, label);
    text.textContent = `y = ${label}  C_x ${before.toFixed(3)}` + (step ? ` → ${step.costsAfter[i].toFixed(3)}` : "");
    div.append(text);
    box.append(div);
  });
  if (batch.length > SHOWN) box.append(Object.assign(document.createElement("span"), { className: "note", textContent: `… and ${batch.length - SHOWN} more` }));
}

/** Each hidden neuron's Delta w as a 28x28 picture (one scale for all) and its Delta b. */
function showHidden(step) {
  const box = $("step-hidden"), dw = step.deltaW[0], H = step.deltaB[0].length;
  const top = maxAbs(dw);
  box.innerHTML = "";
  if (step.deltaW.length < 2) { box.textContent = "no hidden layer"; return; }
  for (let j = 0; j < H; j++) {
    const div = document.createElement("div");
    div.className = "tile";
    div.append(signedCanvas(dw.subarray(j * 784, (j + 1) * 784), 28, 28, top));
    div.append(Object.assign(document.createElement("span"), { textContent: `Δb ${step.deltaB[0][j] >= 0 ? "+" : ""}${step.deltaB[0][j].toFixed(3)}` }));
    box.append(div);
  }
  $("step-hidden-scale").textContent = `(red +, blue −; the largest |Δw| is ${top.toExponential(2)})`;
}

/** The output neurons' changes: Delta w from each neuron of the layer below (one row per digit) and Delta b. */
function showOutputs(step) {
  const L = step.deltaW.length, dw = step.deltaW[L - 1], db = step.deltaB[L - 1], n = dw.length / db.length;
  const box = $("step-outputs"), top = maxAbs(dw);
  box.innerHTML = "";
  for (let j = 0; j < db.length; j++) {
    const row = document.createElement("div");
    row.className = "out-row";
    const c = signedCanvas(dw.subarray(j * n, (j + 1) * n), n, 1, top);
    row.append(Object.assign(document.createElement("b"), { textContent: String(j) }), c,
      Object.assign(document.createElement("span"), { textContent: `Δb ${db[j] >= 0 ? "+" : ""}${db[j].toFixed(4)}` }));
    box.append(row);
  }
}

/** Eq. 9 on the real network: Delta C along w - t eta grad C against the step size t eta. */
function drawCurve(curve, far = null, step = null) {
  const canvas = $("step-curve"), c = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const L = 54, B = 30, T = 12, R = 12;
  c.clearRect(0, 0, W, H);
  c.font = "11px system-ui, sans-serif";
  c.fillStyle = "#6b7280";
  if (!curve) { c.fillText("Step once to see eq. 9 along the step", L, H / 2); return; }
  curve.drawn = true;
  const eta = step.eta, d = (v) => v.map((x) => x - v[0]);
  const lines = [
    [d(curve.batch), "#c2410c", [], "mini-batch ΔC"],
    [curve.sample ? d(curve.sample) : null, "#15803d", [], "1,000 training images ΔC"],
    [curve.predicted, "#1d2330", [5, 4], "eq. 9: −tη‖∇C‖²"],
  ];
  const all = lines.flatMap(([v]) => v || []);
  let lo = Math.min(...all), hi = Math.max(0, ...all);
  if (hi - lo < 1e-12) hi = lo + 1;
  const x = (t) => L + ((W - L - R) * t) / curve.t[curve.t.length - 1];
  const y = (v) => T + ((H - B - T) * (hi - v)) / (hi - lo);
  c.strokeStyle = "#e5e7eb";
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    c.beginPath(); c.moveTo(L, y(v)); c.lineTo(W - R, y(v)); c.stroke();
    c.fillText(v.toPrecision(2), 4, y(v) + 4);
  }
  c.textAlign = "center";
  for (const t of [0, 0.5, 1, 1.5, 2]) { c.textAlign = t === 2 ? "right" : "center"; c.fillText(String(+(t * eta).toPrecision(3)), x(t), H - 16); }
  c.textAlign = "center";
  c.fillText("step size tη along −∇C", (W + L) / 2, H - 3);
  c.textAlign = "left";
  c.strokeStyle = "#9ca3af"; c.setLineDash([2, 3]);
  c.beginPath(); c.moveTo(x(1), T); c.lineTo(x(1), H - B); c.stroke();
  c.setLineDash([]);
  c.fillStyle = "#1d2330"; c.fillText(`η = ${eta}: the step`, x(1) - 100, H - B - 6);
  lines.forEach(([v, color, dash, name], i) => {
    if (!v) return;
    c.strokeStyle = color; c.lineWidth = 2; c.setLineDash(dash);
    c.beginPath();
    v.forEach((val, k) => (k ? c.lineTo(x(curve.t[k]), y(val)) : c.moveTo(x(curve.t[k]), y(val))));
    c.stroke();
    c.setLineDash([]); c.lineWidth = 1;
    c.fillStyle = color; c.fillText(name, W - R - 150, T + 10 + 14 * i);
  });
  if (far) {
    const actual = far.batch[1] - far.batch[0], predicted = far.predicted[1];
    $("step-far").textContent = `η = 30 (t = ${+(30 / eta).toPrecision(3)}) on this mini-batch: ΔC = ${actual.toFixed(4)}, where eq. 9 predicts ${predicted.toFixed(4)}` +
      (predicted < -step.costBefore ? ` — below zero, which no cost can reach: the straight line holds only for small steps` : "");
  }
}

// --- wiring --------------------------------------------------------------------------------------------
function mode(step) {
  const learn = $("learn");
  for (const child of learn.children) if (child.id !== "step-mode" && !child.classList.contains("learn-modes")) child.hidden = step;
  $("step-mode").hidden = !step;
  $("step-open").classList.toggle("active", step);
  $("train-open").classList.toggle("active", !step);
  if (step && !state.net) start().catch((error) => say(error.message, "error"));
}

$("step-open").addEventListener("click", () => mode(true));
$("train-open").addEventListener("click", () => mode(false));
$("step-back").addEventListener("click", () => mode(false));
$("step-10").addEventListener("click", () => run(10));
$("step-100").addEventListener("click", () => run(100));
$("step-stop").addEventListener("click", () => { state.stop = true; });
$("step-reset").addEventListener("click", () => { if (!state.busy) start().catch((error) => say(error.message, "error")); });
$("step-form").addEventListener("submit", (e) => { e.preventDefault(); run(1); });
drawCurve(null);
