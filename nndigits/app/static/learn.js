// Learn: start a real training run, stream its epochs (server-sent events), stop it.
"use strict";
(function () {
  const form = document.getElementById("train-form");
  const trainButton = document.getElementById("train"), stopButton = document.getElementById("stop");
  const msg = document.getElementById("learn-msg"), log = document.getElementById("log");
  const curve = document.getElementById("curve"), weights = document.getElementById("learn-weights");
  let points = [], epochs = 30;

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
      drawCurve();
      if (event.weights.length) showWeights(event.weights, event.epoch);
    } else if (event.type === "end") {
      running(false);
      if (event.message) line(event.message);
      NN.say(msg, event.message, event.status === "failed" ? "error" : "ok");
      if (event.status !== "failed") NN.refreshNetworks().then(NN.loadNetwork);
    }
  }
  const source = new EventSource("/api/train/events");
  source.onmessage = (e) => handle(JSON.parse(e.data));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    form.querySelectorAll("input").forEach((i) => i.classList.remove("bad"));
    try {
      await NN.api("/api/train", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(settings()) });
      NN.say(msg, "Starting… (loading MNIST)");
    } catch (error) {
      NN.say(msg, error.message, "error");
      const input = error.field && form.elements[error.field.split(".")[0]];
      if (input) input.classList.add("bad");
    }
  });
  stopButton.addEventListener("click", async () => {
    await NN.api("/api/train/stop", { method: "POST" });
    NN.say(msg, "Stopping after the current chunk of mini-batches…");
  });
  NN.api("/api/status").then((s) => running(s.training));
  drawCurve();
})();
