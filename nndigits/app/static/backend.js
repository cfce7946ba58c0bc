// The one small interface between the page and what computes for it.
//
// The live app (python -m nndigits.serve) answers from its server; the static site (--export) computes in
// the page: Draw's preprocessing and forward pass here, training in a Web Worker (train_worker.js), the
// perceptrons from their weights. site.json says which: the export writes {"mode": "static"}, the app
// serves {"mode": "live"}. Both backends have the same methods, and answer in the same shapes:
//   status() -> {training, maxUpload}          networks() -> {networks: [{id, name}], current}
//   select(id)                                 network() -> {id, name, sizes, weights: pictures} | null
//   read(blob, name) -> a reading (the 28x28, outputs, guess, hidden neurons; app/inside.py's shape)
//   train(settings), stop(), onEvent(f)        (events: start, say, epoch, end; app/training.py's shapes)
//   perceptrons() -> {nand, half_adder}        sigmoid(c) -> {c, z, sigmoid, step}
import { loadNetwork, networkFromJson, weightPictures } from "./network.js";
import { grayFromRgba, mnistFromGray } from "./preprocess.js";
import { checkSettings } from "./settings.js";
import { evaluateCircuits, lookInside, sigmoidCurve } from "./inpage.js";

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is python -m nndigits.serve still running?`);
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = { detail: `HTTP ${response.status}` }; }
  if (!response.ok) {
    const error = new Error((body && body.detail) || `HTTP ${response.status}`);
    error.status = response.status;
    error.field = body && body.field;
    throw error;
  }
  return body;
}

const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

function live() {
  return {
    mode: "live",
    status: async () => { const s = await api("api/status"); return { training: s.training, maxUpload: s.max_upload_bytes }; },
    networks: () => api("api/networks"),
    select: (id) => api("api/networks/select", json({ id })),
    async network() {
      try { return await api("api/network"); } catch (e) { if (e.status === 409) return null; throw e; }
    },
    read: (blob, name) => api("api/predict?name=" + encodeURIComponent(name), { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } }),
    train: (settings) => api("api/train", json(settings)),
    stop: () => api("api/train/stop", { method: "POST" }),
    onEvent(handler) { new EventSource("api/train/events").onmessage = (e) => handler(JSON.parse(e.data)); },
    perceptrons: () => api("api/perceptrons"),
    sigmoid: (c) => api("api/perceptrons/sigmoid?c=" + c),
  };
}

async function grayOf(blob, name) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (e) {
    throw new Error(`${name}: not an image file (the browser cannot decode it)`);
  }
  const scale = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));  // images.py's MAX_SIDE
  const w = Math.max(1, Math.round(bitmap.width * scale)), h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(w, h), ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, w, h);
  return { gray: grayFromRgba(ctx.getImageData(0, 0, w, h).data, w, h), w, h };
}

function inPage(site) {
  const listeners = [];
  const nets = new Map();
  let current = null, worker = null, training = false;
  const ready = loadNetwork("network.json").then((net) => {
    if (net) { nets.set("exported", { net, name: site.network || "exported network" }); current = "exported"; }
  });
  const emit = (event) => listeners.forEach((f) => f(event));
  function startWorker() {
    worker = new Worker(new URL("./train_worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      if (data.type === "network") {
        nets.set("page", { net: networkFromJson(data.network), name: "trained in this page" });
        current = "page";
        return;
      }
      if (data.type === "end") training = false;
      emit(data);
    };
    worker.onerror = (e) => { training = false; emit({ type: "end", status: "failed", message: `the training worker failed: ${e.message}` }); worker = null; };
  }
  return {
    mode: "static",
    status: async () => ({ training, maxUpload: site.max_upload_bytes }),
    async networks() {
      await ready;
      return { networks: [...nets].map(([id, n]) => ({ id, name: n.name })), current };
    },
    async select(id) {
      await ready;
      if (training) throw new Error("a run is in progress; Draw switches to its network when it ends");
      if (!nets.has(id)) throw new Error(`no network with id ${JSON.stringify(id)}`);
      current = id;
    },
    async network() {
      await ready;
      if (!current) return null;
      const { net, name } = nets.get(current);
      return { id: current, name, sizes: net.sizes, weights: weightPictures(net) };
    },
    async read(blob, name) {
      await ready;
      if (!current) throw new Error("no network yet: train one on the Learn tab");
      if (blob.size > site.max_upload_bytes) throw new Error(`${name}: the file is over the upload limit of ${site.max_upload_bytes / 2 ** 20} MiB`);
      const { gray, w, h } = await grayOf(blob, name);
      const x = mnistFromGray(gray, w, h, name);
      return { image: Array.from(x), ...lookInside(nets.get(current).net, x), network: current };
    },
    async train(settings) {
      if (training) throw new Error("a run is in progress; stop it or wait for it to end");
      const checked = checkSettings(settings);  // throws an Error with .field, as the app's 422
      if (!worker) startWorker();
      training = true;
      setTimeout(() => emit({ type: "start", settings: checked }));  // after the caller's own "Starting…", as from the server
      const engine = new URLSearchParams(location.search).get("engine") === "js" ? "js" : "wasm";  // ?engine=js: for measuring
      worker.postMessage({ type: "train", settings: checked, data: new URL("data/", location.href).href, engine });
      return { started: true, settings: checked };
    },
    async stop() {
      if (training && worker) worker.postMessage({ type: "stop" });
      return { stopping: training };
    },
    onEvent: (handler) => listeners.push(handler),
    async perceptrons() {
      const circuits = await api("perceptrons.json");
      return evaluateCircuits(circuits);
    },
    sigmoid: async (c) => sigmoidCurve(c),
  };
}

async function site() {
  try {
    const response = await fetch("site.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch (e) { /* no site.json: the live app of an older server */ }
  return { mode: "live" };
}

const found = await site();
export const backend = found.mode === "static" ? inPage(found) : live();
