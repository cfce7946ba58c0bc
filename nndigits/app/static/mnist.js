// MNIST in the page: the four IDX files, gzipped, fetched from the site's own data/ folder and unpacked with
// the browser's own gunzip (DecompressionStream). A plain ES module: page, Web Worker and Node alike.
//
// The live app serves the same files at the same relative URLs (data/<name>.gz), so code built on this
// works in both.

/** The files, as MNIST ships them (and as nndigits' verified cache holds them, uncompressed). */
export const MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
};
/** The book's split of MNIST's 60,000 training images: the first 50,000 train, the last 10,000 validate. */
export const TRAIN_SIZE = 50000;

/** The bytes of a gzip file, unpacked (DecompressionStream: in every current browser, in workers, in Node). */
export async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An IDX file (magic 0 0 8 ndim, big-endian uint32 dimensions, unsigned bytes): {shape, data}; throws a
 * one-line Error naming ``name`` if it is not one or is truncated. */
export function parseIdx(bytes, name = "IDX file") {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${name} is not an IDX file (bad magic number)`);
  if (bytes[2] !== 0x08) throw new Error(`${name} holds IDX type ${bytes[2]}; only unsigned bytes (8) are supported`);
  const ndim = bytes[3], header = 4 + 4 * ndim;
  if (ndim === 0 || bytes.length < header) throw new Error(`${name} is truncated (its IDX header is incomplete)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const expected = header + shape.reduce((p, s) => p * s, 1);
  if (bytes.length !== expected) throw new Error(`${name} has ${bytes.length} bytes, but its header [${shape}] needs ${expected}`);
  return { shape, data: bytes.subarray(header) };
}

/** One gzipped IDX file from ``url``, unpacked and parsed. */
export async function fetchIdx(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return parseIdx(await gunzip(new Uint8Array(await response.arrayBuffer())), url);
}

/** MNIST from ``base`` (a folder URL ending in "/", default the site's data/): {train, test}, each
 * {images: Uint8Array (n x 784), labels: Uint8Array, n}; train holds all 60,000 (TRAIN_SIZE splits it). */
export async function loadMnist(base = new URL("data/", globalThis.location ? globalThis.location.href : undefined).href) {
  const url = (name) => new URL(`${name}.gz`, base).href;
  const [ti, tl, si, sl] = await Promise.all(
    [MNIST_FILES.trainImages, MNIST_FILES.trainLabels, MNIST_FILES.testImages, MNIST_FILES.testLabels].map((f) => fetchIdx(url(f))),
  );
  const set = (images, labels) => {
    if (images.shape[0] !== labels.shape[0] || images.shape[1] * images.shape[2] !== 784) throw new Error("the MNIST files do not fit together");
    return { images: images.data, labels: labels.data, n: labels.shape[0] };
  };
  return { train: set(ti, tl), test: set(si, sl) };
}
