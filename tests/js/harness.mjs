// The JavaScript side of tests/test_static_js.py: reads one JSON request on stdin, answers JSON on stdout.
//   {"op": "preprocess", "images": [{"gray": [...], "width": w, "height": h}], "network": network.json or null}
//     -> [{"x": 784 floats, "outputs": 10 floats}] (outputs only with a network)
//   {"op": "sgd", "sizes", "weights", "biases", "raw": MNIST folder, "order": [...], "m", "eta"}
//     -> {"weights", "biases"} after one sgdStep per m examples of the order (the reference step), and
//        "fast": the same from trainEpoch
//   {"op": "circuits", "circuits": perceptrons.json, "c": c} -> the truth tables and sigma(c z) (app/gates.py's)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { feedforward, inputOf, networkFrom, cloneNetwork, sgdStep, sparseImages, trainEpoch } from "../../nndigits/app/static/sgd.js";
import { parseIdx, MNIST_FILES } from "../../nndigits/app/static/mnist.js";
import { networkFromJson } from "../../nndigits/app/static/network.js";
import { mnistFromGray } from "../../nndigits/app/static/preprocess.js";
import { evaluateCircuits, sigmoidCurve } from "../../nndigits/app/static/inpage.js";

const request = JSON.parse(readFileSync(0, "utf8"));
const plain = (net) => ({ weights: net.weights.map((w) => Array.from(w)), biases: net.biases.map((b) => Array.from(b)) });
let answer;
if (request.op === "preprocess") {
  const net = request.network ? networkFromJson(request.network) : null;
  answer = request.images.map(({ gray, width, height }) => {
    try {
      const x = mnistFromGray(Float32Array.from(gray), width, height);
      return { x: Array.from(x), outputs: net ? Array.from(feedforward(net, x).at(-1)) : null };
    } catch (error) {
      return { error: error.message };
    }
  });
} else if (request.op === "sgd") {
  const read = (name) => parseIdx(new Uint8Array(readFileSync(join(request.raw, name))), name).data;
  const images = read(MNIST_FILES.trainImages), labels = read(MNIST_FILES.trainLabels);
  const net = networkFrom(request.sizes, request.weights, request.biases), fast = cloneNetwork(net);
  const order = Uint32Array.from(request.order);
  for (let s = 0; s < order.length; s += request.m) {
    const batch = Array.from(order.subarray(s, s + request.m));
    sgdStep(net, batch.map((e) => inputOf(images, e)), batch.map((e) => labels[e]), request.eta);
  }
  trainEpoch(fast, sparseImages(images, labels), order, request.m, request.eta);
  answer = { ...plain(net), fast: plain(fast) };
} else if (request.op === "circuits") {
  answer = { ...evaluateCircuits(request.circuits), sigmoid: sigmoidCurve(request.c) };
} else throw new Error(`unknown op ${request.op}`);
process.stdout.write(JSON.stringify(answer));
