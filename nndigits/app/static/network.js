// A trained network for the page: network.json (written by the export, served by the live app) to a network
// of sgd.js, and a network's first-layer weights as the pictures the page draws. A plain ES module.
import { networkFrom } from "./sgd.js";

/** {id, name, sizes, weights: [flat row-major [out][in] per layer], biases} to a network (with id and name). */
export function networkFromJson(json) {
  const net = networkFrom(json.sizes, json.weights, json.biases);
  return Object.assign(net, { id: json.id ?? null, name: json.name ?? null });
}

/** A network as network.json holds it (float64 numbers survive JSON exactly). */
export function networkToJson(net, id = null, name = null) {
  return { id, name, sizes: net.sizes, weights: net.weights.map((w) => Array.from(w)), biases: net.biases.map((b) => Array.from(b)) };
}

/** The network at ``url`` (default the site's network.json), or null if there is none (HTTP 404/409). */
export async function loadNetwork(url = "network.json") {
  const response = await fetch(url, { cache: "no-store" });
  if (response.status === 404 || response.status === 409) return null;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return networkFromJson(await response.json());
}

/** Each first-layer neuron's incoming weights, scaled by its largest |w| to int8, base64 (app/inside.py's
 * weight_pictures); [] for a network without a hidden layer. */
export function weightPictures(net) {
  if (net.sizes.length < 3) return [];
  const n = net.sizes[0], w = net.weights[0], out = [];
  for (let j = 0; j < net.sizes[1]; j++) {
    let top = 0;
    for (let k = 0; k < n; k++) top = Math.max(top, Math.abs(Math.fround(w[j * n + k])));
    let s = "";
    for (let k = 0; k < n; k++) {
      const v = top > 0 ? Math.round((127 * Math.fround(w[j * n + k])) / top) : 0;
      s += String.fromCharCode(v & 255);
    }
    out.push(btoa(s));
  }
  return out;
}
