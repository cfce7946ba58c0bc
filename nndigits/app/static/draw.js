// Draw: a pad for mouse and touch; when a stroke ends the backend reads it (the server, or the page itself in
// the static site), and the page shows what it saw.
import { NN } from "./common.js";

{
  const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
  const seen = document.getElementById("seen").getContext("2d");
  const msg = document.getElementById("draw-msg");
  const hidden = document.getElementById("hidden");
  const strokes = [];
  let current = null, request = 0, lastSource = null;
  NN.timings = [];  // stroke end -> answer drawn, in ms (read by the benchmark)
  NN.readings = 0;

  const bars = document.getElementById("bars");
  for (let d = 0; d < 10; d++) {
    bars.insertAdjacentHTML("beforeend", `<div class="bar" data-digit="${d}"><span>${d}</span><div class="track"><div class="fill"></div></div><span class="value">&ndash;</span></div>`);
  }

  function redraw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = "#111"; ctx.lineWidth = 20; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of strokes) {
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (const [x, y] of s) ctx.lineTo(x, y);
      if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
      ctx.stroke();
    }
  }
  function point(event) {
    const r = pad.getBoundingClientRect();
    return [((event.clientX - r.left) * pad.width) / r.width, ((event.clientY - r.top) * pad.height) / r.height];
  }
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId);
    current = [point(e)];
    strokes.push(current);
    redraw();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!current) return;
    current.push(point(e));
    redraw();
  });
  const end = () => {
    if (!current) return;
    current = null;
    readPad();
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);

  function clearView() {
    seen.clearRect(0, 0, 28, 28);
    document.getElementById("guess").textContent = "–";
    document.getElementById("confidence").textContent = "";
    bars.querySelectorAll(".bar").forEach((b) => { b.classList.remove("win"); b.querySelector(".fill").style.width = "0"; b.querySelector(".value").textContent = "–"; });
    hidden.querySelectorAll(".tile").forEach((t) => { t.firstChild.style.opacity = 1; t.classList.remove("lit"); t.style.order = ""; });
  }
  document.getElementById("clear").addEventListener("click", () => { strokes.length = 0; redraw(); clearView(); NN.say(msg, ""); lastSource = null; });
  document.getElementById("undo").addEventListener("click", () => {
    strokes.pop(); redraw();
    if (strokes.length) readPad(); else { clearView(); lastSource = null; }
  });

  // quiet: a re-reading after the network changed, which must not replace the message that says so
  async function read(body, name, started, quiet = false) {
    const mine = ++request;
    try {
      const reading = await NN.backend.read(body, name);
      if (mine !== request) return;  // a newer stroke is on its way
      show(reading);
      if (!quiet) NN.say(msg, name === "drawing" ? "" : `Read ${name}`, "ok");
    } catch (e) {
      if (mine !== request) return;
      if (lastSource && lastSource.kind === "file") lastSource = null;  // nothing read: nothing to read again
      NN.say(msg, e.message, "error");
    }
    if (mine === request) { NN.timings.push(performance.now() - started); NN.readings++; }
  }
  function readPad(quiet = false) {
    const started = performance.now();
    lastSource = { kind: "pad" };
    pad.toBlob((blob) => read(blob, "drawing", started, quiet), "image/png");
  }
  document.getElementById("upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (!file) return;
    strokes.length = 0; redraw();
    if (NN.maxUpload && file.size > NN.maxUpload) {  // the server refuses it too (413); this saves the upload
      ++request; lastSource = null;  // an answer still on its way belongs to an older file: drop it
      NN.say(msg, `${file.name}: the file is over the upload limit of ${NN.maxUpload / 2 ** 20} MiB`, "error");
      e.target.value = "";
      return;
    }
    lastSource = { kind: "file", file };
    read(file, file.name, performance.now());
    e.target.value = "";
  });

  function show(r) {
    const img = seen.createImageData(28, 28);
    r.image.forEach((v, i) => { const g = Math.round(255 * v); img.data.set([g, g, g, 255], 4 * i); });
    seen.putImageData(img, 0, 0);
    document.getElementById("guess").textContent = r.guess;
    document.getElementById("confidence").textContent = `(activation ${r.confidence.toFixed(2)}; runner-up ${r.runner_up})`;
    bars.querySelectorAll(".bar").forEach((b, d) => {
      b.classList.toggle("win", d === r.guess);
      b.querySelector(".fill").style.width = (100 * r.outputs[d]).toFixed(1) + "%";
      b.querySelector(".value").textContent = r.outputs[d].toFixed(2);
    });
    // hidden neurons: reorder by push, light by activation
    const tiles = hidden.children;
    r.hidden.forEach((h, rank) => {
      const t = tiles[h.neuron];
      if (!t) return;
      t.style.order = rank;
      t.firstChild.style.opacity = (0.12 + 0.88 * h.activation).toFixed(3);
      t.classList.toggle("lit", h.push > 0.5);
      t.lastChild.textContent = `a ${h.activation.toFixed(2)} · ${h.push >= 0 ? "+" : ""}${h.push.toFixed(1)}`;
      t.title = `hidden neuron ${h.neuron}: activation ${h.activation.toFixed(3)}, push on ${r.guess}: ${h.push.toFixed(3)}`;
    });
  }

  NN.onNetwork((network) => {
    hidden.innerHTML = "";
    if (network) network.weights.forEach((w, j) => hidden.append(NN.tile(w, `#${j}`)));
    if (network && network.weights.length === 0) hidden.textContent = "This network has no hidden layer.";
    if (lastSource && lastSource.kind === "pad" && strokes.length) readPad(true);
    else if (lastSource && lastSource.kind === "file") read(lastSource.file, lastSource.file.name, performance.now(), true);
    else clearView();
  });
  redraw();
}
