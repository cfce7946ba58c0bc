// A picture of a digit as MNIST would have it, in the page: nndigits/use/images.py ported to JavaScript.
//
// Grey levels in (as PIL's convert("L") makes them), the ink found (white on black), cropped to its box,
// scaled into 20x20 (PIL's Lanczos/bilinear resampling, ported), centred by mass in 28x28. Checked against
// images.py on the example images and on MNIST test digits (tests/test_static_js.py): the same 28x28 to
// within 1e-5 per pixel. Not ported: images.py's evening-out of unevenly lit paper (photos); such an image is
// treated as evenly lit here. A plain ES module.

export const BOX = 20, FRAME = 28, CENTRE = 14;
const MIN_CONTRAST = 0.08, INK_THRESHOLD = 0.2, NOISE_FLOOR = 0.05, MIN_STROKE = 1.6;

/** A one-line error about an image, naming it (images.py's ImageError). */
export class ImageError extends Error {}

/** RGBA bytes (canvas ImageData) to brightness in [0, 1] as float32, PIL's way: L = (299 R + 587 G + 114 B)/1000
 * rounded; transparency flattened onto white paper (onto black if that hides light ink). */
export function grayFromRgba(rgba, width, height) {
  const n = width * height, gray = new Float32Array(n), alpha = new Float32Array(n);
  let seeThrough = false;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    gray[i] = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255;
    alpha[i] = rgba[4 * i + 3] / 255;
    if (rgba[4 * i + 3] < 255) seeThrough = true;
  }
  if (!seeThrough) return gray;
  const onWhite = gray.map((v, i) => v * alpha[i] + (1 - alpha[i]));
  let lo = Infinity, hi = -Infinity;
  for (const v of onWhite) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return hi - lo >= MIN_CONTRAST ? onWhite : gray.map((v, i) => v * alpha[i]);
}

function median(values) {
  const s = Float64Array.from(values).sort(), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Ink as white on black in [0, 1] (images.py's ink_map, evenly lit paper): inverted if the paper is light,
 * the paper's level subtracted, scaled to a maximum of 1, faint noise cleared. */
export function inkMap(gray, width, height, name = "image") {
  const border = [];
  for (let x = 0; x < width; x++) border.push(gray[x], gray[(height - 1) * width + x]);
  for (let y = 0; y < height; y++) border.push(gray[y * width], gray[y * width + width - 1]);
  let paper = Math.fround(median(border));
  if (Math.abs(paper - 0.5) < 0.1) paper = Math.fround(median(gray));
  const light = paper > 0.5, level = light ? Math.fround(1 - paper) : paper;
  const ink = new Float32Array(gray.length);
  let top = -Infinity;
  for (let i = 0; i < gray.length; i++) {
    ink[i] = (light ? Math.fround(1 - gray[i]) : gray[i]) - level;
    top = Math.max(top, ink[i]);
  }
  if (!(top >= MIN_CONTRAST)) throw new ImageError(`${name}: the image has no ink (it is blank or a single uniform colour)`);
  for (let i = 0; i < ink.length; i++) {
    const v = Math.min(Math.max(ink[i] / top, 0), 1);
    ink[i] = v < NOISE_FLOOR ? 0 : v;
  }
  return ink;
}

/** [top, bottom, left, right) of the pixels above threshold x max, or null (images.py's ink_box). */
export function inkBox(ink, width, height, threshold = INK_THRESHOLD) {
  let top = 0;
  for (const v of ink) top = Math.max(top, v);
  if (top <= 0) return null;
  const cut = Math.fround(threshold * top);  // NumPy compares a float32 array with a float32 bound
  let t = height, b = -1, l = width, r = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (ink[y * width + x] > cut) { t = Math.min(t, y); b = Math.max(b, y); l = Math.min(l, x); r = Math.max(r, x); }
  }
  return b < 0 ? null : [t, b + 1, l, r + 1];
}

function crop(ink, width, [t, b, l, r]) {
  const w = r - l, h = b - t, out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(ink.subarray((t + y) * width + l, (t + y) * width + r), y * w);
  return { data: out, w, h };
}

function strokeWidth(mask, w, h) {  // 2 area / edges: a stroke of width s and length L has area sL, edges about 2L
  let area = 0, edges = 0;
  const at = (y, x) => (y >= 0 && y < h && x >= 0 && x < w ? mask[y * w + x] : 0);
  for (let y = -1; y < h; y++) for (let x = -1; x <= w; x++) if (at(y, x) !== at(y + 1, x)) edges++;
  for (let y = -1; y <= h; y++) for (let x = -1; x < w; x++) if (at(y, x) !== at(y, x + 1)) edges++;
  for (const v of mask) area += v;
  return area ? (2 * area) / Math.max(edges, 1) : 0;
}

// PIL's resampling filters and its two-pass resize of a float32 ("F") image (Resample.c), ported.
const sinc = (x) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const FILTERS = {
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  bilinear: { support: 1, f: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
};
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = filter.support * filterscale;
  const rows = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale, ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5)), xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(Math.max(xmax, 0));
    let ww = 0;
    for (let x = 0; x < xmax; x++) { k[x] = filter.f((x + xmin - center + 0.5) * ss); ww += k[x]; }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    rows.push([xmin, k]);
  }
  return rows;
}
/** A float32 image (w x h) resized to (W x H) as PIL's Image.resize does for mode "F". */
export function resize(data, w, h, W, H, kind) {
  const filter = FILTERS[kind];
  const cv = H !== h ? coefficients(h, H, filter) : null, ch = W !== w ? coefficients(w, W, filter) : null;
  let src = data, sw = w, sh = h, first = 0;
  if (ch) {
    const last = cv ? cv[H - 1][0] + cv[H - 1][1].length : h;
    first = cv ? cv[0][0] : 0;
    const rows = last - first, out = new Float32Array(W * rows);
    for (let y = 0; y < rows; y++) for (let xx = 0; xx < W; xx++) {
      const [xmin, k] = ch[xx];
      let s = 0;
      for (let x = 0; x < k.length; x++) s += src[(y + first) * sw + x + xmin] * k[x];
      out[y * W + xx] = s;
    }
    src = out; sw = W; sh = rows;
  } else first = 0;
  if (!cv) return ch ? src : Float32Array.from(src);
  const out = new Float32Array(W * H), shift = ch ? first : 0;
  for (let yy = 0; yy < H; yy++) {
    const [ymin, k] = cv[yy];
    for (let xx = 0; xx < W; xx++) {
      let s = 0;
      for (let y = 0; y < k.length; y++) s += src[(y + ymin - shift) * sw + xx] * k[y];
      out[yy * W + xx] = s;
    }
  }
  return out;
}

function maxFilter(data, w, h, size) {  // PIL's MaxFilter on an image padded with zeros beyond its edge
  const out = new Float32Array(w * h), r = size >> 1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let m = -Infinity;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const yy = Math.min(Math.max(y + dy, 0), h - 1), xx = Math.min(Math.max(x + dx, 0), w - 1);
      m = Math.max(m, data[yy * w + xx]);
    }
    out[y * w + x] = m;
  }
  return out;
}

const roundHalfEven = (v) => { const f = Math.floor(v), d = v - f; return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f; };

/** An ink map (white on black, w x h) as MNIST would have it: Float32Array(784) in [0, 1], the ink scaled into
 * a 20x20 box (thin strokes thickened first), its centre of mass at (14, 14) (images.py's to_mnist). */
export function toMnist(ink, width, height, name = "image") {
  const blank = () => new ImageError(`${name}: the image has no ink (it is blank or a single uniform colour)`);
  let box = inkBox(ink, width, height);
  if (!box) throw blank();
  let { data, w, h } = crop(ink, width, box);
  let scale = BOX / Math.max(h, w);
  let stroke = 0;
  if (scale < 1) {
    let top = 0;
    for (const v of data) top = Math.max(top, v);
    const cut = Math.fround(INK_THRESHOLD * top);
    stroke = strokeWidth(data.map((v) => (v > cut ? 1 : 0)), w, h);
  }
  if (stroke > 0 && stroke * scale < MIN_STROKE) {
    const block = Math.max(1, Math.trunc(1 / (2 * scale)));
    const pw = Math.ceil(w / block), ph = Math.ceil(h / block);
    let pooled = new Float32Array(pw * ph);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = Math.trunc(y / block) * pw + Math.trunc(x / block);
      pooled[i] = Math.max(pooled[i], data[y * w + x]);
    }
    let qw = pw, qh = ph;
    const grow = Math.ceil(MIN_STROKE / (scale * block) - Math.max(1, stroke / block));
    if (grow >= 1) {
      const size = grow % 2 === 0 ? grow + 1 : grow + 2;
      qw = pw + 2 * size; qh = ph + 2 * size;
      const padded = new Float32Array(qw * qh);
      for (let y = 0; y < ph; y++) padded.set(pooled.subarray(y * pw, (y + 1) * pw), (y + size) * qw + size);
      pooled = maxFilter(padded, qw, qh, size);
    }
    box = inkBox(pooled, qw, qh);
    if (!box) throw blank();
    ({ data, w, h } = crop(pooled, qw, box));
    scale = BOX / Math.max(h, w);
  }
  const nw = Math.max(1, roundHalfEven(w * scale)), nh = Math.max(1, roundHalfEven(h * scale));
  const small = resize(data, w, h, nw, nh, scale < 1 ? "lanczos" : "bilinear");
  let peak = 0;
  for (let i = 0; i < small.length; i++) { small[i] = Math.max(small[i], 0); peak = Math.max(peak, small[i]); }
  if (!(peak > 0)) throw blank();
  let mass = 0, my = 0, mx = 0;
  for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) {
    const v = Math.min(Math.fround(small[y * nw + x] / peak), 1);
    small[y * nw + x] = v;
    mass += v; my += v * y; mx += v * x;
  }
  const y0 = Math.min(Math.max(roundHalfEven(CENTRE - my / mass), 0), FRAME - nh);
  const x0 = Math.min(Math.max(roundHalfEven(CENTRE - mx / mass), 0), FRAME - nw);
  const out = new Float32Array(FRAME * FRAME);
  for (let y = 0; y < nh; y++) out.set(small.subarray(y * nw, (y + 1) * nw), (y0 + y) * FRAME + x0);
  return out;
}

/** Grey levels (w x h) to the 784 inputs the network sees: inkMap, then toMnist. */
export const mnistFromGray = (gray, width, height, name = "image") => toMnist(inkMap(gray, width, height, name), width, height, name);
