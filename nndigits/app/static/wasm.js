// Layer 0's loops in WebAssembly SIMD, for sgd.js's fast epoch: two float64 lanes per instruction.
//
// Nearly all of an epoch goes to three loops over an example's nonzero pixels and layer 0's H neurons:
// the forward sums z_j += w_jk x_k, the gradient sums nabla_jk += delta_j x_k, and the update
// w_jk -= (eta/m) nabla_jk of the weights a mini-batch touched. Here they are WebAssembly, written out for
// the layer's width (the module is assembled in the page, from the few instructions below: no build step,
// no binary in the repository). f64x2.add and f64x2.mul are IEEE float64 operations on each lane, done in
// the same order as the JavaScript loops, so the result is the same to the last bit (tests/js/sgd.test.mjs).
//
// Memory: [pixel table | z | delta | touched list | w (n0 x S) | nabla (n0 x S) | pixel indices | bytes],
// layer 0 stored [in][out] with its width H padded to S (even): the padding lane holds zeros throughout.

const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;
const u32 = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
const s32 = (n) => { const out = []; for (;;) { const b = n & 0x7f; n >>= 7; if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) { out.push(b); return out; } out.push(b | 0x80); } };
const str = (s) => [...u32(s.length), ...[...s].map((c) => c.charCodeAt(0))];
const vec = (items) => [...u32(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...u32(bytes.length), ...bytes];

// instructions
const get = (i) => [0x20, ...u32(i)], set = (i) => [0x21, ...u32(i)];
const i32 = (n) => [0x41, ...s32(n)];
const ADD = 0x6a, MUL = 0x6c, SHL = 0x74, GE_U = 0x4f;
const simd = (op, ...rest) => [0xfd, ...u32(op), ...rest];
const vload = (offset) => simd(0, 0, ...u32(offset)), vstore = (offset) => simd(11, 0, ...u32(offset));
const VZERO = simd(12, ...new Array(16).fill(0)), SPLAT = simd(20), VADD = simd(240), VSUB = simd(241), VMUL = simd(242);
// for (p = local[first]; p < local[last]; p++) body   (p is local `p`)
const loop = (p, first, last, body) => [
  ...get(first), ...set(p),
  0x02, 0x40, 0x03, 0x40, ...get(p), ...get(last), GE_U, 0x0d, 1,
  ...body, ...get(p), ...i32(1), ADD, ...set(p), 0x0c, 0, 0x0b, 0x0b,
];

/** The byte layout of an engine's memory for a sparse set of `count` nonzero pixels and layer 0 n0 x H. */
export function layout(n0, H, count) {
  const S = H + (H % 2), at = {}, sizes = [["pixel", 256 * 8], ["z", S * 8], ["d", S * 8], ["touched", n0 * 4], ["w", n0 * S * 8], ["nabla", n0 * S * 8], ["index", count * 2], ["value", count]];
  let end = 0;
  for (const [name, size] of sizes) { at[name] = end; end += Math.ceil(size / 16) * 16; }
  return { S, at, bytes: end };
}

/** The module's bytes: forward(from, to), gradient(from, to), update(count, c) over global pixel indices. */
export function assemble(n0, H, count) {
  const { S, at, bytes } = layout(n0, H, count), V = S / 2, stride = S * 8, pages = Math.ceil(bytes / 65536);
  const CH = 16;  // vectors per pass (32 neurons): the sums stay in registers
  const P = 2, B = 3, X = 4, ACC = 5;  // locals after the two parameters
  // b = index[p] * stride; x = splat(pixel[value[p]])
  const fetch = [
    ...get(P), ...i32(1), SHL, 0x2f, 1, ...u32(at.index), ...i32(stride), MUL, ...set(B),
    ...get(P), 0x2d, 0, ...u32(at.value), ...i32(3), SHL, 0x2b, 3, ...u32(at.pixel), ...SPLAT, ...set(X),
  ];
  const forward = [], gradient = [];
  for (let v0 = 0; v0 < V; v0 += CH) {
    const n = Math.min(CH, V - v0), off = (i) => 16 * (v0 + i);
    for (let i = 0; i < n; i++) forward.push(...VZERO, ...set(ACC + i));
    const fbody = [...fetch];
    for (let i = 0; i < n; i++) fbody.push(...get(ACC + i), ...get(B), ...vload(at.w + off(i)), ...get(X), VMUL, VADD, ...set(ACC + i).flat());
    forward.push(...loop(P, 0, 1, fbody.flat()));
    for (let i = 0; i < n; i++) forward.push(...i32(0), ...get(ACC + i), ...vstore(at.z + off(i)));
    for (let i = 0; i < n; i++) gradient.push(...i32(0), ...vload(at.d + off(i)), ...set(ACC + i));
    const gbody = [...fetch];
    for (let i = 0; i < n; i++) gbody.push(...get(B), ...get(B), ...vload(at.nabla + off(i)), ...get(ACC + i), ...get(X), VMUL, VADD, ...vstore(at.nabla + off(i)));
    gradient.push(...loop(P, 0, 1, gbody.flat()));
  }
  // update(count, c): for each touched k: w[k] = w[k] - c * nabla[k]; nabla[k] = 0   (locals: q=2, b=3, cv=4)
  const ubody = [...get(2), ...i32(2), SHL, 0x28, 2, ...u32(at.touched), ...i32(stride), MUL, ...set(3)];
  for (let i = 0; i < V; i++) {
    ubody.push(...get(3), ...get(3), ...vload(at.w + 16 * i), ...get(4), ...get(3), ...vload(at.nabla + 16 * i), VMUL, VSUB, ...vstore(at.w + 16 * i));
    ubody.push(...get(3), ...VZERO, ...vstore(at.nabla + 16 * i));
  }
  const zero = [...i32(0), ...set(2)];
  const update = [...get(1), ...SPLAT, ...set(4), ...zero, ...loop(2, 2, 0, ubody.flat())];
  const acc = Math.min(CH, V);
  const body = (locals, code) => { const b = [...vec(locals), ...code.flat(), 0x0b]; return [...u32(b.length), ...b]; };
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([I32, I32]), 0], [0x60, ...vec([I32, F64]), 0]])),
    ...section(2, vec([[...str("m"), ...str("memory"), 0x02, 0x00, ...u32(pages)]])),
    ...section(3, vec([[0], [0], [1]])),
    ...section(7, vec([[...str("forward"), 0, 0], [...str("gradient"), 0, 1], [...str("update"), 0, 2]])),
    ...section(10, vec([
      body([[2, I32], [1 + acc, V128]], forward),
      body([[2, I32], [1 + acc, V128]], gradient),
      body([[2, I32], [1, V128]], update),
    ])),
  ]);
}

/** An engine for a sparse set and layer 0's width H, or null where WebAssembly SIMD is missing: typed-array
 * views of its memory (w, nabla, z, d, touched; stride S) and its three functions. */
export function wasmEngine(data, H, pixel) {
  if (typeof WebAssembly === "undefined") return null;
  const n0 = data.size, count = data.index.length, bytes = assemble(n0, H, count);
  if (!WebAssembly.validate(bytes)) return null;
  const { S, at, bytes: size } = layout(n0, H, count);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536) });
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { memory } });
  const buffer = memory.buffer, f64 = (name, n) => new Float64Array(buffer, at[name], n);
  new Uint16Array(buffer, at.index, count).set(data.index);
  new Uint8Array(buffer, at.value, count).set(data.value);
  f64("pixel", 256).set(pixel);
  return {
    S, w: f64("w", n0 * S), nabla: f64("nabla", n0 * S), z: f64("z", S), d: f64("d", S),
    touched: new Uint32Array(buffer, at.touched, n0),
    forward: (e) => exports.forward(data.offsets[e], data.offsets[e + 1]),
    gradient: (e) => exports.gradient(data.offsets[e], data.offsets[e + 1]),
    update: exports.update,
  };
}
