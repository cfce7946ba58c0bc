// Perceptrons: the NAND gate, the half adder (truth tables from nndigits.studies.neurons (through app/gates.py), or evaluated in
// the page from the same weights in the static site), sigma(c z).
import { NN } from "./common.js";

{
  const x = [0, 1];
  let data = null;
  const row = (table) => table.rows.find((r) => r.x[0] === x[0] && r.x[1] === x[1]);
  function bit(name, i) {
    const b = document.createElement("button");
    b.className = "bit" + (x[i] ? " on" : "");
    b.textContent = x[i];
    b.title = `toggle ${name}`;
    b.addEventListener("click", () => { x[i] = 1 - x[i]; render(); });
    return b;
  }
  function renderNand() {
    const el = document.getElementById("nand"), r = row(data.nand);
    el.innerHTML = "";
    const inputs = document.createElement("div");
    inputs.className = "inputs";
    inputs.append("x1", bit("x1", 0), "x2", bit("x2", 1));
    inputs.insertAdjacentHTML("beforeend", `&rarr; z = &minus;2&middot;${x[0]} &minus; 2&middot;${x[1]} + 3 = <b>${r.z}</b> &rarr; output <b class="nand-out">${r.out}</b>`);
    el.append(inputs);
  }
  const at = { x1: [40, 60], x2: [40, 180], g1: [170, 120], g2: [290, 60], g3: [290, 180], g4: [410, 60], g5: [410, 180] };
  function renderAdder() {
    const svg = document.getElementById("adder"), r = row(data.half_adder), wires = r.wires;
    let html = "";
    for (const g of data.half_adder.gates) {
      g.reads.forEach((s, k) => {
        const [x1, y1] = at[s], [x2, y2] = at[g.name], dy = g.reads[0] === g.reads[1] ? (k ? 6 : -6) : 0;
        html += `<line x1="${x1 + 26}" y1="${y1 + dy}" x2="${x2 - 26}" y2="${y2 + dy}" class="${wires[s] ? "on" : ""}"/>`;
      });
    }
    for (const [name, [cx, cy]] of Object.entries(at)) {
      const input = name.startsWith("x"), on = wires[name] ? " on" : "";
      const label = input ? `${name} = ${wires[name]}` : `${name}: ${wires[name]}`;
      html += `<g class="gate${on}${input ? " input" : ""}" data-name="${name}"><rect x="${cx - 26}" y="${cy - 16}" width="52" height="32" rx="${input ? 16 : 4}"/><text x="${cx}" y="${cy}">${label}</text></g>`;
    }
    const out = data.half_adder.outputs;
    html += `<text x="490" y="60">sum ${r.outputs.sum}</text><line x1="436" y1="60" x2="470" y2="60"/>`;
    html += `<text x="490" y="180">carry ${r.outputs.carry}</text><line x1="436" y1="180" x2="462" y2="180"/>`;
    html += `<text x="260" y="228" class="note">sum = ${out.sum} = x1 XOR x2, carry = ${out.carry} = x1 AND x2 (g5 reads g1 twice)</text>`;
    svg.innerHTML = html;
    svg.querySelectorAll(".gate.input").forEach((g) => g.addEventListener("click", () => { const i = g.dataset.name === "x1" ? 0 : 1; x[i] = 1 - x[i]; render(); }));
  }
  function render() { renderNand(); renderAdder(); }

  const slider = document.getElementById("c"), canvas = document.getElementById("sigmoid");
  async function sigmoid() {
    const c = Number(slider.value);
    document.getElementById("c-value").textContent = c.toFixed(1);
    const d = await NN.backend.sigmoid(c);
    const g = canvas.getContext("2d"), W = canvas.width, H = canvas.height, P = 24;
    const px = (z) => P + ((W - 2 * P) * (z - d.z[0])) / (d.z[d.z.length - 1] - d.z[0]);
    const py = (a) => H - P - (H - 2 * P) * a;
    g.clearRect(0, 0, W, H);
    g.strokeStyle = "#e5e7eb"; g.beginPath(); g.moveTo(px(0), P / 2); g.lineTo(px(0), H - P); g.moveTo(P, py(0)); g.lineTo(W - P, py(0)); g.stroke();
    const plot = (ys, color, width) => { g.strokeStyle = color; g.lineWidth = width; g.beginPath(); d.z.forEach((z, i) => (i ? g.lineTo(px(z), py(ys[i])) : g.moveTo(px(z), py(ys[i])))); g.stroke(); };
    plot(d.step, "#9ca3af", 2);
    plot(d.sigmoid, "#c2410c", 2.5);
    g.lineWidth = 1; g.fillStyle = "#6b7280"; g.font = "12px system-ui, sans-serif";
    g.fillText("step(z)", W - 80, py(1) + 16); g.fillStyle = "#c2410c"; g.fillText(`σ(${c.toFixed(1)}·z)`, W - 80, py(1) + 32);
    g.fillStyle = "#6b7280"; g.fillText("z", W - P + 6, py(0) + 4); g.fillText("1", px(0) - 14, py(1) + 4);
  }
  slider.addEventListener("input", sigmoid);
  NN.backend.perceptrons().then((d) => { data = d; render(); });
  sigmoid();
}
