// Layer 0's loops in plain JavaScript, for sgd.js's fast epoch where there is no WebAssembly SIMD (wasm.js).
// The loops are written out for the layer's width, in chunks of up to 32 neurons, the running sums held in
// local variables (V8 keeps them in registers: 3x faster than the plain loops). The arithmetic is that of
// sgdStep: each z_j still sums w_jk x_k over k in ascending order, from 0.
const CHUNK = 32;
function chunkKernels(H, C) {  // the JavaScript loops written out for C neurons: the sums stay in registers
  let f = "", g = "";
  for (let j = 0; j < C; j++) { f += `let z${j} = 0;`; g += `const d${j} = d[j0 + ${j}];`; }
  f += "\nfor (let p = from; p < to; p++) {\n  const b = index[p] * H + j0, x = PIXEL[value[p]];\n";
  g += "\nfor (let p = from; p < to; p++) {\n  const b = index[p] * H + j0, x = PIXEL[value[p]];\n";
  for (let j = 0; j < C; j++) { f += `  z${j} += w[b + ${j}] * x;\n`; g += `  nabla[b + ${j}] += d${j} * x;\n`; }
  f += "}\n";
  g += "}\n";
  for (let j = 0; j < C; j++) f += `z[j0 + ${j}] = z${j};`;
  const args = ["H", "PIXEL", "from", "to", "index", "value", "j0"];
  return { forward: new Function(...args, "w", "z", f), gradient: new Function(...args, "nabla", "d", g) };
}
/** The engine in JavaScript (see sgd.js's engines): layer 0 [in][out], stride S = H. */
export function jsEngine(data, H, PIXEL) {
  const n0 = data.size, S = H, { offsets, index, value } = data, chunks = [];
  for (let j0 = 0; j0 < H; j0 += CHUNK) chunks.push([j0, chunkKernels(H, Math.min(CHUNK, H - j0))]);
  const w = new Float64Array(n0 * S), nabla = new Float64Array(n0 * S), z = new Float64Array(S), d = new Float64Array(S);
  const touched = new Uint32Array(n0), flags = new Uint8Array(n0);
  return {
    S, w, nabla, z, d,
    forward(e) { for (const [j0, k] of chunks) k.forward(H, PIXEL, offsets[e], offsets[e + 1], index, value, j0, w, z); },
    gradient(e, count) {  // also lists the pixels met for the first time in this mini-batch
      for (const [j0, k] of chunks) k.gradient(H, PIXEL, offsets[e], offsets[e + 1], index, value, j0, nabla, d);
      for (let p = offsets[e], end = offsets[e + 1]; p < end; p++) {
        const k = index[p];
        if (!flags[k]) { flags[k] = 1; touched[count++] = k; }
      }
      return count;
    },
    update(count, c) {
      for (let q = 0; q < count; q++) {
        const base = touched[q] * S;
        flags[touched[q]] = 0;
        for (let j = 0; j < S; j++) { w[base + j] = w[base + j] - c * nabla[base + j]; nabla[base + j] = 0; }
      }
    },
  };
}

