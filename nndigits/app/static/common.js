// What every view shares: calling the API, tabs, the network chooser, drawing weight pictures.
"use strict";
const NN = (window.NN = {});

NN.api = async function (path, options = {}) {
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
};

NN.say = function (element, text, kind = "") {
  element.textContent = text;
  element.className = "msg " + kind;
};

NN.showTab = function (name) {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === name));
};
document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => NN.showTab(t.dataset.tab)));

// A neuron's incoming weights (base64 int8, scaled by its largest |w|) as a 28x28 picture: red +, blue -.
NN.weightCanvas = function (b64, canvas) {
  canvas = canvas || document.createElement("canvas");
  canvas.width = 28; canvas.height = 28;
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = bytes[i] > 127 ? bytes[i] - 256 : bytes[i];
    const t = Math.abs(v) / 127, fade = Math.round(255 * (1 - t));
    img.data.set(v >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
};

NN.tile = function (b64, caption) {
  const div = document.createElement("div");
  div.className = "tile";
  div.append(NN.weightCanvas(b64));
  const label = document.createElement("span");
  label.textContent = caption;
  div.append(label);
  return div;
};

// The network chooser: checkpoints under the log dir; the server gets an id from its own list, never a path.
NN.networkListeners = [];
NN.onNetwork = (f) => NN.networkListeners.push(f);
NN.refreshNetworks = async function () {
  const select = document.getElementById("network-choice");
  const { networks, current } = await NN.api("/api/networks");
  select.innerHTML = "";
  if (!networks.length) select.append(new Option("no checkpoints yet", ""));
  for (const n of networks) select.append(new Option(n.name, n.id, false, n.id === current));
  if (current && !networks.some((n) => n.id === current)) select.append(new Option("(trained just now)", current, false, true));
  return current;
};
NN.loadNetwork = async function () {
  let network = null;
  try { network = await NN.api("/api/network"); } catch (e) { if (e.status !== 409) throw e; }
  NN.network = network;
  document.getElementById("no-network").hidden = !!network;
  NN.networkListeners.forEach((f) => f(network));
};
document.getElementById("network-choice").addEventListener("change", async (event) => {
  const msg = document.getElementById("draw-msg");
  try {
    await NN.api("/api/networks/select", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: event.target.value }),
    });
    await NN.loadNetwork();
    NN.say(msg, "Now reading with " + event.target.selectedOptions[0].text, "ok");
  } catch (e) {
    NN.say(msg, e.message, "error");
    NN.refreshNetworks();
  }
});
document.getElementById("go-learn").addEventListener("click", () => NN.showTab("learn"));
window.addEventListener("load", async () => {
  NN.api("/api/status").then((s) => (NN.maxUpload = s.max_upload_bytes));
  await NN.refreshNetworks();
  await NN.loadNetwork();
});
