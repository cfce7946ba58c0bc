// Learn: start a real training run (on the server, or in a Web Worker in the static site), watch its epochs,
// stop it. The settings live in the page's URL (?hidden=30&eta=3&m=10&epochs=30&seed=1), so a link to the
// page is a link to a run.
import { NN } from "./common.js";

{
  const form = document.getElementById("train-form");
  const trainButton = document.getElementById("train"), stopButton = document.getElementById("stop");
  const msg = document.getElementById("learn-msg"), log = document.getElementById("log");
  const curve = document.getElementById("curve"), weights = document.getElementById("learn-weights");
  let points = [], epochs = 30;
  NN.epochSeconds = [];  // seconds per epoch, where the backend measures them (the static site's worker)

  function number(text) {
    const t = text.trim();
    return t !== "" && !isNaN(Number(t)) ? Number(t) : t;  // non-numbers go as sent: the server names the field
  }
  function settings() {
    const f = new FormData(form);
    const hidden = String(f.get("hidden")).split(/[\s,]+/).filter((s) => s !== "").map(number);
    return { hidden, eta: number(f.get("eta")), m: number(f.get("m")), epochs: number(f.get("epochs")), seed: number(f.get("seed")) };
  }
  function running(on) {
    trainButton.disabled = on;
    stopButton.disabled = !on;
  }
  function line(text) {
    log.textContent += text + "\n";
    log.scrollTop = log.scrollHeight;
  }

  function drawCurve() {
    const c = curve.getContext("2d"), W = curve.width, H = curve.height, L = 44, B = 26, T = 10, R = 10;
    c.clearRect(0, 0, W, H);
    c.font = "11px system-ui, sans-serif"; c.fillStyle = "#6b7280"; c.strokeStyle = "#e5e7eb";
    const lo = points.length ? Math.max(0, Math.floor(Math.min(...points.map((p) => p[1])) * 10) / 10) : 0;
    const x = (e) => L + ((W - L - R) * e) / Math.max(1, epochs - 1);
    const y = (a) => H - B - ((H - B - T) * (a - lo)) / (1 - lo);
    for (let k = 0; k <= 4; k++) {
      const a = lo + ((1 - lo) * k) / 4;
      c.beginPath(); c.moveTo(L, y(a)); c.lineTo(W - R, y(a)); c.stroke();
      c.fillText((100 * a).toFixed(lo >= 0.8 ? 1 : 0) + "%", 4, y(a) + 4);
    }
    c.fillText("epoch", (W + L) / 2 - 14, H - 8);
    c.fillText("0", L - 3, H - 10);
    if (epochs > 1) c.fillText(String(epochs - 1), x(epochs - 1) - 8, H - 10);
    if (!points.length) return;
    c.strokeStyle = "#c2410c"; c.lineWidth = 2; c.beginPath();
    points.forEach(([e, a], i) => (i ? c.lineTo(x(e), y(a)) : c.moveTo(x(e), y(a))));
    c.stroke(); c.lineWidth = 1;
    c.fillStyle = "#c2410c";
    points.forEach(([e, a]) => { c.beginPath(); c.arc(x(e), y(a), 3, 0, 7); c.fill(); });
  }

  function showWeights(list, epoch) {
    if (weights.children.length !== list.length) {
      weights.innerHTML = "";
      list.forEach((w, j) => weights.append(NN.tile(w, `#${j}`)));
    } else list.forEach((w, j) => NN.weightCanvas(w, weights.children[j].firstChild));
    document.getElementById("weights-epoch").textContent = `after epoch ${epoch}`;
  }

  function handle(event) {
    if (event.type === "start") {
      log.textContent = ""; points = []; epochs = event.settings.epochs; weights.innerHTML = "";
      document.getElementById("weights-epoch").textContent = "";
      drawCurve(); running(true); NN.say(msg, "Training…");
    } else if (event.type === "say") line(event.line);
    else if (event.type === "epoch") {
      line(event.line);
      points.push([event.epoch, event.accuracy]);
      if (event.seconds !== undefined) NN.epochSeconds.push(event.seconds);
      drawCurve();
      if (event.weights.length) showWeights(event.weights, event.epoch);
    } else if (event.type === "end") {
      running(false);
      if (event.message) line(event.message);
      NN.say(msg, event.message, event.status === "failed" ? "error" : "ok");
      if (event.status !== "failed") NN.refreshNetworks().then(NN.loadNetwork);
    }
  }
  NN.backend.onEvent(handle);

  // The settings in the URL: read once when the page opens (and then shown on the Learn tab), written on Train.
  const FIELDS = ["hidden", "eta", "m", "epochs", "seed"];
  const query = new URLSearchParams(location.search);
  if (FIELDS.some((f) => query.has(f))) {
    for (const f of FIELDS) if (query.has(f)) form.elements[f].value = query.get(f);
    NN.showTab("learn");
  }
  function link() {
    const f = new FormData(form), q = new URLSearchParams();
    for (const name of FIELDS) q.set(name, String(f.get(name)).trim().split(/[\s,]+/).filter((t) => t).join(","));
    const url = new URL(location.href);
    url.search = q.toString();
    document.getElementById("run-link").href = url.href;
    return url;
  }
  form.addEventListener("input", link);
  link();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    form.querySelectorAll("input").forEach((i) => i.classList.remove("bad"));
    try {
      await NN.backend.train(settings());
      history.replaceState(null, "", link());
      NN.say(msg, "Starting… (loading MNIST)");
    } catch (error) {
      NN.say(msg, error.message, "error");
      const input = error.field && form.elements[error.field.split(".")[0]];
      if (input) input.classList.add("bad");
    }
  });
  stopButton.addEventListener("click", async () => {
    await NN.backend.stop();
    NN.say(msg, "Stopping after the current chunk of mini-batches…");
  });
  NN.backend.status().then((s) => running(s.training));
  drawCurve();
}
