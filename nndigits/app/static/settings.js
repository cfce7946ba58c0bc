// The settings of a run trained in this browser tab (the static site), checked field by field with the
// messages the app's server gives (pydantic's): a bad one is an Error whose .field names it and says why.
// These are the page's own limits for a run in a tab -- the live app's server trains with chapter.py's
// (wider) bounds, checked in app/settings.py.
export const BOUNDS = {
  hidden: { layers: 3, min: 1, max: 1000 },
  eta: { min: 0, max: 100 },  // 0 < eta <= 100
  m: { min: 1, max: 50000 },
  epochs: { min: 1, max: 1000 },
  seed: { min: 0, max: 2 ** 32 - 1 },
};

function bad(field, message) {
  const error = new Error(`${field}: ${message}`);
  error.field = field;
  return error;
}
function integer(field, v, { min, max }) {
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(field, "Input should be a valid integer");
  if (v < min) throw bad(field, `Input should be greater than or equal to ${min}`);
  if (v > max) throw bad(field, `Input should be less than or equal to ${max}`);
  return v;
}

/** The settings, checked: {hidden: [ints], eta, m, epochs, seed}; throws on the first bad field. */
export function checkSettings(s) {
  if (!Array.isArray(s.hidden)) throw bad("hidden", "Input should be a valid list");
  if (s.hidden.length > BOUNDS.hidden.layers) throw bad("hidden", `List should have at most ${BOUNDS.hidden.layers} items`);
  const hidden = s.hidden.map((h, i) => integer(`hidden.${i}`, h, BOUNDS.hidden));
  if (typeof s.eta !== "number" || !Number.isFinite(s.eta)) throw bad("eta", "Input should be a valid number");
  if (!(s.eta > BOUNDS.eta.min)) throw bad("eta", "Input should be greater than 0");
  if (s.eta > BOUNDS.eta.max) throw bad("eta", `Input should be less than or equal to ${BOUNDS.eta.max}`);
  return { hidden, eta: s.eta, m: integer("m", s.m, BOUNDS.m), epochs: integer("epochs", s.epochs, BOUNDS.epochs), seed: integer("seed", s.seed, BOUNDS.seed) };
}
