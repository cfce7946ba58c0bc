// What every view shares: the backend (the app's server, or the page itself in the static site: backend.js),
// tabs, the network chooser, drawing weight pictures. window.NN is the page's state (tests read it).
import { backend } from "./backend.js";

export const NN = (window.NN = { backend });

NN.say = function (element, text, kind = "") {
  element.textContent = text;
  element.className = "msg " + kind;
};

NN.showTab = function (name) {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === name));
};
document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => NN.showTab(t.dataset.tab)));
document.body.classList.add(backend.mode);  // "live" or "static": the few words that differ are shown by CSS

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

// The network chooser: checkpoints under the log dir (the static site: its network and one trained in the
// page); the backend gets an id from its own list, never a path.
NN.networkListeners = [];
NN.onNetwork = (f) => NN.networkListeners.push(f);
NN.refreshNetworks = async function () {
  const select = document.getElementById("network-choice");
  const { networks, current } = await backend.networks();
  select.innerHTML = "";
  if (!networks.length) select.append(new Option("no checkpoints yet", ""));
  for (const n of networks) select.append(new Option(n.name, n.id, false, n.id === current));
  if (current && !networks.some((n) => n.id === current)) select.append(new Option("(trained just now)", current, false, true));
  return current;
};
NN.loadNetwork = async function () {
  const network = await backend.network();
  NN.network = network;
  document.getElementById("no-network").hidden = !!network;
  NN.networkListeners.forEach((f) => f(network));
};
document.getElementById("network-choice").addEventListener("change", async (event) => {
  const msg = document.getElementById("draw-msg");
  try {
    await backend.select(event.target.value);
    await NN.loadNetwork();
    NN.say(msg, "Now reading with " + event.target.selectedOptions[0].text, "ok");
  } catch (e) {
    NN.say(msg, e.message, "error");
    NN.refreshNetworks();
  }
});
document.getElementById("go-learn").addEventListener("click", () => NN.showTab("learn"));
// Module scripts run once the page is parsed; the other views register their listeners first (they import
// this module), so this runs after them.
queueMicrotask(async () => {
  backend.status().then((s) => (NN.maxUpload = s.maxUpload));
  await NN.refreshNetworks();
  await NN.loadNetwork();
});
