// imputer's web page: upload a table, look at its missingness, run EM as a job, see and
// download the result. Plain JavaScript against the service's own REST API (no build
// step, no CDN): POST /v1/diagnostics, POST /v1/jobs/impute, GET /v1/jobs/{id},
// GET /v1/jobs/{id}/result, DELETE /v1/jobs/{id}.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { body: null, type: null, name: null, columns: [], job: null, polling: null, result: null, csvUrl: null };
const KEY = "imputer-api-key";

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem(KEY);
  if (key) h["X-API-Key"] = key;
  return h;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function problemText(response) {
  try {
    const p = await response.json();
    return `${p.title || response.status}: ${p.detail || ""}`;
  } catch (e) {
    return `HTTP ${response.status}`;
  }
}

function fmt(x, digits) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number") return String(x);
  return Number.isInteger(x) ? String(x) : x.toPrecision(digits || 5);
}

function fillTable(table, head, rows) {
  const thead = table.tHead || table.createTHead();
  if (head) {
    thead.innerHTML = "";
    const tr = thead.insertRow();
    for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  }
  const tbody = table.tBodies[0] || table.createTBody();
  tbody.innerHTML = "";
  for (const row of rows) {
    const tr = tbody.insertRow();
    row.forEach((cell, j) => {
      const td = document.createElement(j === 0 ? "th" : "td");
      td.textContent = cell;
      tr.appendChild(td);
    });
  }
}

// ---------------------------------------------------------------------------- data
function contentType(name) {
  return /\.parquet$/i.test(name || "") ? "application/vnd.apache.parquet" : "text/csv";
}

async function useTable(body, type, name) {
  state.body = body; state.type = type; state.name = name;
  showError("");
  $("result-section").hidden = true;
  const r = await fetch("/v1/diagnostics", { method: "POST", body, headers: headers({ "Content-Type": type }) });
  if (!r.ok) { showError(await problemText(r)); return; }
  const d = await r.json();
  state.columns = d.columns;
  const nMissing = d.missing.reduce((s, m) => s + m.n_missing, 0);
  $("overview-summary").textContent =
    `${name}: ${d.n_rows} rows, ${d.columns.length} numeric columns modelled` +
    (d.passthrough.length ? `, ${d.passthrough.length} passed through (${d.passthrough.join(", ")})` : "") +
    `; ${nMissing} missing cells in ${d.patterns.n_patterns} patterns, ${d.patterns.n_complete_rows} complete rows.`;
  fillTable($("missing-table"), null, d.missing.map((m) => [m.column, m.n_missing, (100 * m.share).toFixed(1) + "%"]));
  const t = d.patterns.table;
  const shown = t.data.slice(0, 12).map((row, i) => [String(t.index[i]), ...row.map((v, j) =>
    d.columns.includes(t.columns[j]) ? (v ? "■" : "□") : String(v))]);
  fillTable($("pattern-table"), ["pattern", ...t.columns], shown);
  $("mcar").textContent = d.mcar
    ? `Little's MCAR test: chi-square ${fmt(d.mcar.statistic)} on ${d.mcar.df} df, p = ${fmt(d.mcar.p_value, 3)}` +
      (d.mcar.p_value !== null && d.mcar.p_value < 0.05 ? " (the gaps depend on the data: not MCAR)" : "")
    : (d.mcar_error ? `Little's MCAR test: ${d.mcar_error}` : "");
  $("overview").hidden = false;
  const box = $("columns");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const c of d.columns) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.value = c; input.checked = true; input.name = "column";
    label.appendChild(input); label.appendChild(document.createTextNode(" " + c));
    box.appendChild(label);
  }
  $("options-section").hidden = false;
}

// ---------------------------------------------------------------------------- run
function query() {
  const q = new URLSearchParams();
  const chosen = [...document.querySelectorAll("input[name=column]:checked")].map((i) => i.value);
  if (chosen.length !== state.columns.length) chosen.forEach((c) => q.append("columns", c));
  const model = document.querySelector("input[name=model]:checked").value;
  q.set("model", model);
  if (model === "mixture") { q.append("n_components", $("n-components").value); q.set("seed", "0"); }
  q.set("ridge", $("ridge").value || "0");
  q.set("tol", $("tol").value || "1e-7");
  q.set("max_iter", $("max-iter").value || "1000");
  if (model !== "mixture") q.set("conditional_var", "true");  // marks the imputed cells (> 0)
  return q;
}

async function run() {
  showError("");
  $("result-section").hidden = true;
  const r = await fetch("/v1/jobs/impute?" + query().toString(), {
    method: "POST", body: state.body, headers: headers({ "Content-Type": state.type, "Accept": "application/json" }),
  });
  if (r.status !== 202) { showError(await problemText(r)); return; }
  state.job = r.headers.get("Location") || (await r.json()).location;
  $("run").disabled = true; $("cancel").hidden = false; $("progress-box").hidden = false;
  $("progress").removeAttribute("value");
  $("status").textContent = "queued";
  poll();
}

function progressText(doc) {
  const p = doc.progress || {};
  const parts = [doc.status];
  if (p.iteration !== undefined && p.iteration !== null) parts.push(`iterate ${p.iteration}`);
  if (p.objective !== undefined && p.objective !== null) parts.push(`objective ${fmt(p.objective, 10)}`);
  if (p.change !== undefined && p.change !== null) parts.push(`change ${fmt(p.change, 2)}`);
  return parts.join(", ");
}

async function poll() {
  const r = await fetch(state.job, { headers: headers() });
  if (!r.ok) { finish(); showError(await problemText(r)); return; }
  const doc = await r.json();
  $("status").textContent = progressText(doc);
  if (doc.status === "succeeded") { await fetchResult(); finish(); return; }
  if (doc.status === "failed" || doc.status === "cancelled") {
    finish();
    const why = doc.error ? (doc.error.detail || JSON.stringify(doc.error)) : doc.status;
    showError(`The job ${doc.status}: ${why}`);
    return;
  }
  state.polling = setTimeout(poll, 300);
}

function finish() {
  clearTimeout(state.polling);
  $("run").disabled = false; $("cancel").hidden = true;
  $("progress").value = 100;
}

async function cancel() {
  if (!state.job) return;
  clearTimeout(state.polling);
  await fetch(state.job, { method: "DELETE", headers: headers() });
  finish();
  $("status").textContent = "cancelled";
}

async function fetchResult() {
  const url = state.job.replace(/\/$/, "") + "/result";
  const r = await fetch(url, { headers: headers({ "Accept": "application/json" }) });
  if (!r.ok) { showError(await problemText(r)); return; }
  const res = await r.json();
  state.result = res;
  const csv = await fetch(url, { headers: headers({ "Accept": "text/csv" }) });
  if (csv.ok) {
    if (state.csvUrl) URL.revokeObjectURL(state.csvUrl);
    state.csvUrl = URL.createObjectURL(await csv.blob());
    $("download").href = state.csvUrl;
    $("download").download = (state.name || "table").replace(/\.[^.]*$/, "") + "_completed.csv";
  }
  render(res);
}

// ---------------------------------------------------------------------------- result
function render(res) {
  const cols = res.columns;
  const trace = res.trace || {};
  $("result-summary").textContent =
    `${res.converged ? "Converged" : "Not converged"} (${trace.stop_reason || ""}) after ${res.n_iter} iterations ` +
    `(${res.n_evals} EM evaluations); log-likelihood ${fmt(res.loglik, 10)}.` +
    (res.warnings && res.warnings.length ? ` Warnings: ${res.warnings.join(" ")}` : "");
  const sd = {};
  let means = res.mean || {};
  if (res.cov) cols.forEach((c, j) => { sd[c] = Math.sqrt(res.cov.data[j][j]); });
  fillTable($("mean-table"), null, cols.map((c) => [c, fmt(means[c]), fmt(sd[c]), res.n_missing ? res.n_missing[c] : ""]));
  if (res.corr) {
    fillTable($("corr-table"), ["corr", ...res.corr.columns],
      res.corr.columns.map((c, i) => [c, ...res.corr.data[i].map((v) => v.toFixed(3))]));
  }
  drawTrace(res.loglik_history || []);
  drawDensities(res);
  $("result-section").hidden = false;
}

function svgEl(name, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

function drawTrace(history) {
  const svg = $("trace");
  svg.innerHTML = "";
  if (!history.length) return;
  const W = 520, H = 200, L = 70, B = 25;
  const lo = Math.min(...history), hi = Math.max(...history);
  const span = hi - lo || 1;
  const pts = history.map((v, i) => {
    const x = L + (W - L - 10) * (history.length === 1 ? 0.5 : i / (history.length - 1));
    const y = 10 + (H - B - 10) * (1 - (v - lo) / span);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  svg.appendChild(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: "#0072B2", "stroke-width": 1.5 }));
  const top = svgEl("text", { x: 4, y: 14 }); top.textContent = fmt(hi, 8); svg.appendChild(top);
  const bottom = svgEl("text", { x: 4, y: H - B }); bottom.textContent = fmt(lo, 8); svg.appendChild(bottom);
  const label = svgEl("text", { x: L, y: H - 6 }); label.textContent = `objective at ${history.length} accepted iterates`;
  svg.appendChild(label);
}

function drawDensities(res) {
  const box = $("densities");
  box.innerHTML = "";
  const comp = res.completed, cv = res.conditional_var;
  if (!comp || !cv) {
    box.textContent = "(observed and imputed values are shown for the normal and the t)";
    return;
  }
  for (const c of res.columns) {
    const j = comp.columns.indexOf(c), k = cv.columns.indexOf(c);
    if (j < 0 || k < 0) continue;
    const obs = [], imp = [];
    comp.data.forEach((row, i) => {
      const v = row[j];
      if (v === null) return;
      (cv.data[i][k] > 0 ? imp : obs).push(v);
    });
    box.appendChild(histogram(c, obs, imp));
  }
}

function histogram(name, obs, imp) {
  const W = 240, H = 130, nb = 20;
  const all = obs.concat(imp);
  const svg = svgEl("svg", { width: W, height: H, role: "img", "aria-label": `${name}: observed and imputed`, "data-column": name });
  if (!all.length) return svg;
  const lo = Math.min(...all), hi = Math.max(...all), width = (hi - lo) / nb || 1;
  const counts = (xs) => {
    const h = new Array(nb).fill(0);
    xs.forEach((x) => { h[Math.min(nb - 1, Math.floor((x - lo) / width))] += 1; });
    return h.map((n) => (xs.length ? n / xs.length : 0));  // shares: densities on one scale
  };
  const ho = counts(obs), hi2 = counts(imp);
  const top = Math.max(...ho, ...hi2) || 1;
  const bw = (W - 10) / nb;
  [[ho, "obs"], [hi2, "imp"]].forEach(([h, cls]) => h.forEach((v, b) => {
    const bh = (H - 30) * (v / top);
    svg.appendChild(svgEl("rect", { x: 5 + b * bw, y: H - 15 - bh, width: bw - 1, height: bh, class: cls }));
  }));
  const t = svgEl("text", { x: 5, y: 12 });
  t.textContent = `${name}: ${obs.length} observed (grey), ${imp.length} imputed (orange)`;
  svg.appendChild(t);
  return svg;
}

// ---------------------------------------------------------------------------- wiring
function init() {
  const saved = sessionStorage.getItem(KEY);
  if (saved) $("key-state").textContent = "key set for this session";
  $("key-save").addEventListener("click", () => {
    sessionStorage.setItem(KEY, $("api-key").value);
    $("api-key").value = "";
    $("key-state").textContent = "key set for this session";
  });
  $("file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) await useTable(await f.arrayBuffer(), contentType(f.name), f.name);
  });
  $("paste-use").addEventListener("click", () => useTable($("paste").value, "text/csv", "pasted table"));
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
}

document.addEventListener("DOMContentLoaded", init);
