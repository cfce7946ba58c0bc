// The static site's training run, in a Web Worker so that the page stays responsive: the book's SGD
// (sgd.js) on MNIST (mnist.js), epoch by epoch, with the events the live app's server streams
// (start/say/epoch/end, app/training.py's shapes). A module worker; MNIST is loaded once and kept.
import { loadMnist, TRAIN_SIZE } from "./mnist.js";
import { createNetwork, engineChoice, evaluate, generator, shuffled, sparseImages, trainEpoch } from "./sgd.js";
import { networkToJson, weightPictures } from "./network.js";

const CHUNK = 500;  // mini-batches between looks at the message queue (a Stop is seen within one chunk)
let data = null, stopRequested = false;

const pause = () => new Promise((resolve) => setTimeout(resolve, 0));
const percent = (v) => (100 * v).toFixed(2) + "%";

async function mnist(base) {
  if (!data) {
    const { train, test } = await loadMnist(base);
    const all = sparseImages(train.images, train.labels);  // the first TRAIN_SIZE train, the rest validate
    data = { all, test: sparseImages(test.images, test.labels) };
  }
  return data;
}

async function run(settings, base) {
  stopRequested = false;
  const started = performance.now();
  const say = (line) => postMessage({ type: "say", line });
  const sizes = [784, ...settings.hidden, 10];
  say("Loading MNIST (gzipped IDX files from this site)…");
  const { all, test } = await mnist(base);
  const rng = generator(settings.seed);
  const net = createNetwork(sizes, rng);
  say(`[${sizes.join(", ")}] network, eta = ${settings.eta}, m = ${settings.m}, seed ${settings.seed}: ` +
    "float64 SGD in this page; the initial weights and the order of examples come from the page's own generator " +
    "(the same seed gives the same run in every browser, not the Python run)");
  let epochs = 0;
  for (let epoch = 0; epoch < settings.epochs && !stopRequested; epoch++) {
    const t0 = performance.now(), order = shuffled(TRAIN_SIZE, rng);
    let cost = 0, seen = 0;
    const step = CHUNK * settings.m;
    for (let from = 0; from < order.length && !stopRequested; from += step) {
      const r = trainEpoch(net, all, order.subarray(from, from + step), settings.m, settings.eta);
      cost += r.cost * r.seen; seen += r.seen;
      await pause();  // let a Stop in
    }
    if (seen < order.length) break;  // stopped mid-epoch: no Epoch line for half an epoch
    const t = evaluate(net, test), v = evaluate(net, all, TRAIN_SIZE, all.n);
    const line = `Epoch ${epoch}: ${t.correct} / ${t.total}   validation ${percent(v.accuracy)}, cost ${v.cost.toFixed(4)}` +
      `   training cost ${(cost / seen).toFixed(4)}`;
    epochs++;
    postMessage({
      type: "epoch", epoch, line, correct: t.correct, total: t.total, accuracy: t.accuracy, validation: v.accuracy,
      weights: weightPictures(net), seconds: (performance.now() - t0) / 1000,
    });
    await pause();
  }
  const seconds = (performance.now() - started) / 1000, stopped = stopRequested;
  if (epochs) postMessage({ type: "network", network: networkToJson(net, "page", "trained in this page") });
  postMessage({
    type: "end", status: stopped ? "stopped" : "done", seconds,
    message: `${stopped ? "Stopped" : "Done"} after ${epochs} epoch(s) in ${seconds.toFixed(1)} s; ` +
      (epochs ? "Draw now reads digits with this network." : "Draw keeps its network."),
  });
}

self.onmessage = ({ data: message }) => {
  if (message.type === "stop") stopRequested = true;
  else if (message.type === "train") {
    engineChoice.use = message.engine || "wasm";
    run(message.settings, message.data).catch((error) =>
      postMessage({ type: "end", status: "failed", message: `the run failed: ${error.message}` }));
  }
};
