"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined)
    e.appendChild(typeof kid === "string" ? document.createTextNode(kid) : kid);
  return e;
}
function fill(id, ...kids) { const e = $(id); if (!e) return; e.replaceChildren(...kids.filter(k => k)); }
const isNum = (x) => typeof x === "number" && isFinite(x);
function fmt(x, d) {
  if (x === null || x === undefined) return "–";
  if (!isNum(x)) return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return x.toFixed(d === undefined ? 4 : d);
}
const pct = (x) => isNum(x) ? (100 * x).toFixed(1) + "%" : "–";
const money = (x) => isNum(x) ? "$" + x.toFixed(x < 1 ? 4 : 2) : "–";
function dur(s) {
  if (!isNum(s)) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.floor(s % 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${r}s` : `${r}s`;
}
function delta(x) {
  if (!isNum(x)) return el("span", {class: "note", text: "–"});
  return el("span", {class: x > 0 ? "up" : x < 0 ? "down" : "", text: (x > 0 ? "+" : "") + x.toFixed(4)});
}
function table(cols, rows, onclick, selected) {
  const head = el("tr", {}, ...cols.map(c => el("th", {class: c.num ? "num" : "", text: c.label})));
  const body = rows.map(r => {
    const tr = el("tr", {class: (onclick ? "click" : "") + (selected !== undefined && r.id === selected ? " sel" : "")},
      ...cols.map(c => {
        const v = c.fn ? c.fn(r) : r[c.key];
        return el("td", {class: c.num ? "num" : ""}, v instanceof Node ? v : fmt(v, c.digits));
      }));
    if (onclick) tr.addEventListener("click", () => onclick(r));
    return tr;
  });
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}
function codePre(text, cls) { return el("pre", {class: cls || "", text: text || ""}); }
function diffPre(text) {
  const pre = el("pre");
  for (const line of (text || "(no difference)").split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add"
      : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.appendChild(el("span", {class: cls, text: line + "\n"}));
  }
  return pre;
}
function badge(s) { return el("span", {class: "badge " + s, text: s}); }
const CONFIG = {displaylogo: false, responsive: true};
// Plotly reads a subset of HTML in every label, title and hover text (<a href>, <b>, <br>): a string
// that came from a run (a metric's or a model's name, a failure's message) goes through plain() on
// its way into a plot, so it shows as the text it is and never becomes a link or markup.
const plain = (s) => String(s ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function plot(id, traces, layout) {
  const e = $(id); if (!e) return;
  const base = {margin: {l: 60, r: 20, t: 10, b: 45}, hovermode: "closest", paper_bgcolor: "#fff",
                plot_bgcolor: "#fff", font: {size: 12}, legend: {orientation: "h", y: -0.18}};
  Plotly.react(e, traces, Object.assign(base, layout), CONFIG);
}
function empty(id, message) { fill(id, el("p", {class: "note", text: message})); }

function renderHeader(d) {
  const s = d.summary, r = s.run;
  fill("title", `${r.name}`);
  fill("subtitle", `problem ${r.problem} · ${s.mutator} · sandbox ${s.sandbox} · seed ${s.seed} · started ${r.created_at || "–"}`);
  const counts = s.status_counts;
  const stat = (v, label) => el("div", {class: "stat"}, el("b", {text: v}), el("span", {text: label}));
  fill("stats",
    el("div", {class: "stat"}, badge(r.status), el("span", {text: s.stop_reason ? " " + s.stop_reason : " status"})),
    stat(fmt(s.best ? s.best.score : null), "best score" + (s.best ? ` (program ${s.best.id})` : "")),
    stat(fmt(s.heldout_score), "held-out score"),
    stat(fmt(r.candidates), "candidates"),
    stat(fmt(counts.ok || 0), "evaluated ok"),
    stat(fmt(counts.failed || 0), "failed"),
    stat(fmt(s.iterations_done) + (s.iterations_target ? " / " + fmt(s.iterations_target) : ""), "iterations"),
    stat(money(s.cost), "model cost"),
    stat(fmt(s.tokens), "tokens"),
    stat(dur(r.duration_s), "duration"));
}

const COLORS = ["#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285", "#5f3dc4", "#e67700"];
function renderTimeline(d) {
  const t = d.timeline, traces = [];
  t.islands.forEach((s, i) => traces.push({x: s.x, y: s.y, customdata: s.ids, name: `island ${s.island}`,
    type: "scatter", mode: "lines", line: {shape: "hv", width: 1.5, color: COLORS[i % COLORS.length]},
    hovertemplate: `island ${s.island}<br>iteration %{x}<br>best %{y:.4f}<br>program %{customdata}<extra></extra>`}));
  traces.push({x: t.overall.x, y: t.overall.y, customdata: t.overall.ids, name: "best overall", type: "scatter",
    mode: "lines", line: {shape: "hv", width: 3, color: "#111"},
    hovertemplate: "iteration %{x}<br>best %{y:.4f}<br>program %{customdata}<extra></extra>"});
  if (t.heldout.x.length) traces.push({x: t.heldout.x, y: t.heldout.y, customdata: t.heldout.ids, name: "held-out",
    type: "scatter", mode: "markers", marker: {symbol: "diamond", size: 10, color: "#f59f00", line: {color: "#111", width: 1}},
    hovertemplate: "program %{customdata}<br>held-out %{y:.4f}<extra></extra>"});
  if (!t.overall.x.length) return empty("plot-timeline", "No program has been scored yet.");
  plot("plot-timeline", traces, {xaxis: {title: {text: "iteration"}}, yaxis: {title: {text: "best score so far"}}});
}
function renderHistogram(d) {
  const h = d.histogram;
  if (!h.counts.length) return empty("plot-hist", "No scores yet.");
  const mids = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
  const width = h.edges[1] - h.edges[0];
  plot("plot-hist", [{type: "bar", x: mids, y: h.counts, width: width * 0.95, marker: {color: "#2f6fde"},
    customdata: h.counts.map((_, i) => [h.edges[i], h.edges[i + 1]]),
    hovertemplate: "%{customdata[0]:.4f} – %{customdata[1]:.4f}<br>%{y} programs<extra></extra>"}],
    {xaxis: {title: {text: "score"}}, yaxis: {title: {text: "programs"}}, bargap: 0.02});
}
function renderGrid(d) {
  const g = d.grid;
  if (!g) return empty("plot-grid", "No program has MAP-Elites cell coordinates yet.");
  fill("grid-note", `${g.filled} of ${g.cells} cells filled` + (g.folded ? " · further feature axes folded in (best over them)" : ""));
  const text = g.z.map((row, y) => row.map((v, x) => v === null ? "empty" :
    `program ${g.ids[y][x]}<br>best ${v.toFixed(4)}<br>${g.counts[y][x]} programs`));
  plot("plot-grid", [{type: "heatmap", z: g.z, x: g.x.labels.map(plain), y: g.y.labels.map(plain), text: text, customdata: g.ids,
    colorscale: "Viridis", hoverongaps: false, hovertemplate: "%{x} × %{y}<br>%{text}<extra></extra>",
    colorbar: {title: {text: "score"}}}],
    {xaxis: {title: {text: plain(g.x.name)}, type: "category"}, yaxis: {title: {text: plain(g.y.name)}, type: "category"},
     margin: {l: 90, r: 20, t: 10, b: 70}});
}
// Several objectives: two are a scatter of every program with the front drawn through its members;
// more are parallel coordinates, the front's lines in colour.
function renderFront(d) {
  const f = d.front, section = $("front-section");
  if (!section) return;
  section.hidden = !f;
  if (!f) return;
  const names = f.objectives.map(o => `${plain(o.name)} (${o.direction})`);
  const front = f.points.filter(p => p.on_front);
  fill("front-note", `${front.length} of ${f.points.length} evaluated programs are on the front: no other beats them on every objective`);
  if (!f.points.length) return empty("plot-front", "No program has all objectives yet.");
  const hover = (p) => `program ${p.id}<br>` + p.values.map((v, k) => `${names[k]}: ${fmt(v, 4)}`).join("<br>");
  if (f.objectives.length === 2) {
    const walk = front.slice().sort((a, b) => a.values[0] - b.values[0]);
    const trace = (ps, extra) => Object.assign({type: "scatter", x: ps.map(p => p.values[0]), y: ps.map(p => p.values[1]),
      customdata: ps.map(p => p.id), text: ps.map(hover), hovertemplate: "%{text}<extra></extra>"}, extra);
    plot("plot-front", [
      trace(f.points.filter(p => !p.on_front), {name: "dominated", mode: "markers", marker: {color: "#bbb", size: 7}}),
      trace(walk, {name: "front", mode: "lines+markers", line: {color: "#2f6fde", shape: "linear"}, marker: {color: "#2f6fde", size: 10}}),
    ], {xaxis: {title: {text: names[0]}}, yaxis: {title: {text: names[1]}}});
  } else {
    const dims = f.objectives.map((o, k) => ({label: names[k], values: f.points.map(p => p.values[k])}));
    plot("plot-front", [{type: "parcoords", dimensions: dims,
      line: {color: f.points.map(p => p.on_front ? 1 : 0), colorscale: [[0, "#ccc"], [1, "#2f6fde"]], cmin: 0, cmax: 1}}],
      {margin: {l: 70, r: 70, t: 40, b: 20}});
  }
}
function renderTree(d) {
  const nodes = d.tree.nodes;
  if (!nodes.length) return empty("plot-tree", "No best program yet.");
  const byId = new Map(nodes.map(n => [n.id, n]));
  const ex = [], ey = [], px = [], py = [];
  for (const n of nodes) {
    const p = byId.get(n.parent_id);
    if (!p || p.score === null || n.score === null) continue;
    const xs = n.on_path ? px : ex, ys = n.on_path ? py : ey;
    xs.push(p.generation, n.generation, null); ys.push(p.score, n.score, null);
  }
  const off = nodes.filter(n => !n.on_path), on = nodes.filter(n => n.on_path && n.score !== null);
  plot("plot-tree", [
    {x: ex, y: ey, type: "scatter", mode: "lines", line: {color: "#cbd5e1", width: 1}, hoverinfo: "skip", name: "branches"},
    {x: off.map(n => n.generation), y: off.map(n => n.score), customdata: off.map(n => n.id), type: "scatter",
     mode: "markers", marker: {size: 5, color: "#94a3b8"}, name: "siblings (best few)",
     hovertemplate: "program %{customdata}<br>generation %{x}<br>score %{y:.4f}<extra></extra>"},
    {x: px, y: py, type: "scatter", mode: "lines", line: {color: "#2f6fde", width: 2.5}, hoverinfo: "skip", name: "lineage"},
    {x: on.map(n => n.generation), y: on.map(n => n.score), customdata: on.map(n => [n.id, plain(n.mutation), plain(n.model), n.children]),
     type: "scatter", mode: "markers", marker: {size: 8, color: "#2f6fde", line: {color: "#fff", width: 1}}, name: "ancestors of the best",
     hovertemplate: "program %{customdata[0]} (%{customdata[1]} %{customdata[2]})<br>generation %{x}<br>score %{y:.4f}<br>%{customdata[3]} children<extra></extra>"},
  ], {xaxis: {title: {text: "generation"}}, yaxis: {title: {text: "score"}}});
  const e = $("plot-tree");
  if (window.LIVE && e && !e.dataset.clicks) {
    e.dataset.clicks = "1";
    e.on("plotly_click", (ev) => { const c = ev.points[0].customdata; if (c !== undefined) openProgram(Array.isArray(c) ? c[0] : c); });
  }
}
let shownLineage = null;
function renderLineage(d) {
  const steps = d.lineage;
  const key = steps.length ? steps[steps.length - 1].program.id : null;
  if (key === shownLineage) return;  // keep open <details> while the best is unchanged
  shownLineage = key;
  if (!steps.length) return empty("lineage", "No best program yet.");
  const items = steps.map((s, i) => {
    const p = s.program;
    const head = el("summary", {},
      el("b", {text: `#${p.id}`}), ` gen ${p.generation} · iteration ${p.iteration} · island ${p.island} · ${p.mutation}` +
      (p.model ? ` by ${p.model}` : "") + ` · score ${fmt(p.score)} `, delta(s.delta));
    const box = el("details", {}, head, s.diff ? diffPre(s.diff) : el("p", {class: "note", text: i === 0 ? "the initial program" : "no diff recorded"}));
    if (window.LIVE) box.appendChild(el("a", {text: `open program ${p.id}`, onclick: () => openProgram(p.id)}));
    return box;
  });
  fill("lineage", el("p", {class: "note", text: `${steps.length} steps from the initial program to the best; expand a step to see its diff.`}), ...items.reverse());
}
// The spread of a program's training scores when it was evaluated more than once ([evaluation]
// repeat_best measures the top programs again on noisy problems; the score kept is the lower
// median of the repeats, not counting the first); null otherwise.
function scoreSpread(evaluations) {
  const scores = (evaluations || []).filter(e => e.kind === "train" && e.ok && e.score !== null).map(e => e.score);
  if (scores.length < 2) return null;
  const repeats = [...scores.slice(1)].sort((a, b) => a - b);
  const median = repeats[Math.floor((repeats.length - 1) / 2)];
  const lo = Math.min(...scores), hi = Math.max(...scores);
  return `score spread: first ${fmt(scores[0])}, then ${repeats.length} repeats ${scores.slice(1).map(x => fmt(x)).join(", ")}` +
    ` · median of the repeats ${fmt(median)} · range ${fmt(lo)} to ${fmt(hi)}` + (median ? ` (${pct((hi - lo) / Math.abs(median))} of the median)` : "");
}
function renderBest(d) {
  const b = d.best;
  if (!b) return empty("best", "No program has been scored yet.");
  const p = b.brief;
  const metrics = Object.entries(b.metrics || {}).map(([k, v]) => ({k, v}));
  const spread = scoreSpread(b.evaluations);
  fill("best",
    el("p", {}, el("b", {text: `Program ${p.id}`}), ` · score ${fmt(p.score)} · held-out ${fmt(p.heldout_score)} · island ${p.island} · generation ${p.generation} · iteration ${p.iteration}` + (p.model ? ` · ${p.model}` : "")),
    spread ? el("p", {class: "note", text: spread}) : null,
    metrics.length ? table([{label: "metric", key: "k"}, {label: "value", key: "v", num: true, digits: 6}], metrics) : null,
    b.feedback ? el("div", {}, el("h3", {text: "Feedback"}), codePre(b.feedback, "wrap")) : null,
    el("h3", {text: `Code (${d.language})`}), el("pre", {id: "best-code", text: b.code}),
    b.diff ? el("details", {}, el("summary", {text: "Diff against its parent"}), diffPre(b.diff)) : null);
}
function renderTables(d) {
  const s = d.summary;
  fill("islands", table([
    {label: "island", key: "island"}, {label: "best score", key: "score", num: true},
    {label: "best program", key: "program_id", num: true}, {label: "candidates", key: "candidates", num: true},
    {label: "ok", key: "ok", num: true}], s.islands));
  fill("models", s.models.length ? table([
    {label: "model", key: "model"}, {label: "calls", key: "calls", num: true}, {label: "errors", key: "errors", num: true},
    {label: "prompt tokens", key: "prompt_tokens", num: true}, {label: "completion tokens", key: "completion_tokens", num: true},
    {label: "cost", fn: r => money(r.cost), num: true}, {label: "mean latency (s)", key: "mean_latency", num: true, digits: 1},
    {label: "applied", fn: r => pct(r.applied_share), num: true}, {label: "improved", fn: r => pct(r.improved_share), num: true},
    {label: "1st try", fn: r => pct(r.first_try_share), num: true}, {label: "after retry", fn: r => pct(r.after_retry_share), num: true},
    {label: "answer forms (children)", fn: r => Object.entries(r.answer_forms || {}).map(([f, n]) => `${f} ${n} (${(r.form_children || {})[f] || 0})`).join(", ")},
  ], s.models) : el("p", {class: "note", text: "No model calls (offline mutator)."}));
  const arms = s.arms || [];  // older reports' data has none
  const near = s.rejections.filter(r => r.kind === "near_duplicate").reduce((a, r) => a + r.count, 0);
  fill("search-note", `reward per pull: 0 for no gain, 0.5 to 1 for an improvement · novelty rejections ${fmt(near)} · island resets ${fmt(s.resets || 0)}`);
  fill("arms", arms.length ? table([
    {label: "bandit", key: "bandit"}, {label: "arm", key: "arm"}, {label: "weight", key: "weight", num: true, digits: 2},
    {label: "pulls", key: "pulls", num: true}, {label: "improved", key: "improved", num: true},
    {label: "mean reward", key: "mean_reward", num: true, digits: 3}, {label: "cost", fn: r => money(r.cost), num: true}], arms)
    : el("p", {class: "note", text: "No bandits (offline mutator)."}));
  const failed = s.failures.reduce((a, f) => a + f.count, 0);
  fill("failures", s.failures.length ? table([{label: "reason", key: "reason"}, {label: "programs", key: "count", num: true},
    {label: "share", fn: r => pct(r.count / failed), num: true}, {label: "example", key: "example"}], s.failures)
    : el("p", {class: "note", text: "No failed evaluations."}));
  fill("rejections", s.rejections.length ? table([{label: "outcome: reason", key: "reason"}, {label: "calls", key: "count", num: true},
    {label: "example", key: "example"}], s.rejections) : el("p", {class: "note", text: "No rejected edits."}));
  if (s.failures.length) {
    const f = s.failures.slice().reverse();
    const short = (t) => t.length > 42 ? t.slice(0, 40) + "…" : t;
    plot("plot-failures", [{type: "bar", orientation: "h", x: f.map(r => r.count), y: f.map(r => plain(short(r.reason))),
      customdata: f.map(r => plain(r.reason)), marker: {color: "#c4320a"}, hovertemplate: "%{customdata}: %{x}<extra></extra>"}],
      {margin: {l: 20, r: 20, t: 10, b: 40}, xaxis: {title: {text: "failed programs"}}, yaxis: {automargin: true}});
  } else empty("plot-failures", "No failed evaluations.");
  if (s.models.length) {
    plot("plot-models", [
      {type: "bar", name: "cost ($)", x: s.models.map(m => plain(m.model)), y: s.models.map(m => m.cost), marker: {color: "#2f6fde"},
       offsetgroup: "cost", hovertemplate: "%{x}<br>cost $%{y:.4f}<extra></extra>"},
      {type: "bar", name: "improved share", x: s.models.map(m => plain(m.model)), y: s.models.map(m => m.improved_share), yaxis: "y2",
       marker: {color: "#2b8a3e"}, offsetgroup: "improved", hovertemplate: "%{x}<br>%{y:.1%} of calls improved on the parent<extra></extra>"}],
      {barmode: "group", yaxis: {title: {text: "cost ($)"}}, yaxis2: {title: {text: "improved share"}, overlaying: "y", side: "right", tickformat: ".0%"},
       margin: {l: 60, r: 60, t: 10, b: 45}});
  } else empty("plot-models", "No model calls.");
  fill("events", s.events.length ? table([{label: "time", key: "created_at"}, {label: "kind", key: "kind"}, {label: "message", key: "message"}], s.events)
    : el("p", {class: "note", text: "No events."}));
}
function renderInsights(d) {
  // The run's scratchpads (newest first): the latest in full, the earlier ones folded.
  const all = d.summary.insights || [];
  const written = all.filter(i => !i.error);
  if (!written.length) return empty("insights", all.length ? `${all.length} insight calls failed.` : "No insights (written every [prompt] insight_interval evaluations by a model).");
  const head = (i) => `after ${fmt(i.iteration)} evaluations · ${i.model} · ${fmt(i.tokens)} tokens · ${money(i.cost)}` +
    (i.program_ids.length ? ` · drew on programs ${i.program_ids.join(", ")}` : "");
  const [latest, ...earlier] = written;
  fill("insights",
    el("p", {class: "note", text: `${written.length} written` + (all.length > written.length ? `, ${all.length - written.length} failed` : "") + "; the latest is shown in every later prompt."}),
    el("p", {}, el("b", {text: "Latest"}), " · " + head(latest)), codePre(latest.text, "wrap"),
    ...earlier.map(i => el("details", {}, el("summary", {text: head(i)}), codePre(i.text, "wrap"))));
}
function renderHints(d) {
  // A person's hints (evolve hint, the box below on the live page) and what their children did.
  const hints = d.summary.hints || [];
  if (!hints.length) return empty("hints", "No hints.");
  const until = (h) => h.cleared_at !== null ? `withdrawn at ${h.cleared_at}` : (h.until === null ? "until withdrawn" : `iteration ${h.until}`);
  fill("hints", table([
    {label: "hint", key: "id", num: true}, {label: "arrived", fn: h => `iteration ${h.iteration}`},
    {label: "islands", fn: h => h.island === null ? "all" : String(h.island)}, {label: "shown until", fn: until},
    {label: "children", key: "children", num: true}, {label: "improved", key: "improved", num: true},
    {label: "best child", key: "best_score", num: true, digits: 6}, {label: "text", key: "text"}], hints));
}
function render(d) {
  renderHeader(d); renderTimeline(d); renderHistogram(d); renderGrid(d); renderFront(d); renderTree(d);
  renderLineage(d); renderBest(d); renderTables(d); renderInsights(d); renderHints(d);
  fill("generated", `data as of ${d.generated_at} UTC`);
  document.body.dataset.rendered = String((+document.body.dataset.rendered || 0) + 1);
}

// ---------------------------------------------------------------- live page only
let browse = {status: "", island: "", sort: "-id", offset: 0, limit: 50, selected: null};
async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}
async function refreshView() {
  try {
    render(await getJSON("api/view"));
    $("live-dot").className = "";
    fill("live-state", "live · refreshing every " + (window.POLL_MS / 1000) + " s");
  } catch (e) {
    $("live-dot").className = "stale";
    fill("live-state", "cannot reach the server (" + e.message + "); retrying");
  }
}
let browseSeq = 0;
async function refreshPrograms() {
  const q = new URLSearchParams({sort: browse.sort, offset: browse.offset, limit: browse.limit});
  if (browse.status) q.set("status", browse.status);
  if (browse.island !== "") q.set("island", browse.island);
  const sort = browse.sort, seq = ++browseSeq;
  try {
    const page = await getJSON("api/programs?" + q);
    if (seq !== browseSeq) return;  // a newer request was made meanwhile: its answer wins
    $("program-list").dataset.sort = sort;
    fill("program-page", `${fmt(browse.offset + 1)}–${fmt(Math.min(browse.offset + browse.limit, page.total))} of ${fmt(page.total)}`);
    fill("program-list", table([
      {label: "id", key: "id", num: true}, {label: "iter", key: "iteration", num: true}, {label: "island", key: "island", num: true},
      {label: "gen", key: "generation", num: true}, {label: "status", fn: r => badge(r.status)}, {label: "score", key: "score", num: true},
      {label: "model", fn: r => r.model || r.mutation}], page.programs, (r) => openProgram(r.id), browse.selected));
  } catch (e) { fill("program-page", "cannot load programs: " + e.message); }
}
async function openProgram(id) {
  browse.selected = id;
  let p;
  try { p = await getJSON("api/program/" + id); } catch (e) { return fill("program-detail", el("p", {text: e.message})); }
  const b = p.brief;
  const sec = (title, node) => node ? el("div", {}, el("h3", {text: title}), node) : null;
  const metrics = Object.entries(p.metrics || {}).map(([k, v]) => ({k, v}));
  fill("program-detail",
    el("p", {}, el("b", {text: `Program ${b.id} `}), badge(b.status),
      ` score ${fmt(b.score)} (parent ${fmt(p.parent_score)}) · island ${b.island} · generation ${b.generation} · iteration ${b.iteration} · ${b.mutation}`,
      b.parent_id !== null ? el("span", {}, " · parent ", el("a", {text: String(b.parent_id), onclick: () => openProgram(b.parent_id)})) : null),
    p.llm ? el("p", {class: "note", text: `${p.llm.model} · ${p.llm.prompt_tokens} + ${p.llm.completion_tokens} tokens · ${money(p.llm.cost)} · ${fmt(p.llm.latency, 1)} s · outcome ${p.llm.outcome}`}) : null,
    metrics.length ? sec("Metrics", table([{label: "metric", key: "k"}, {label: "value", key: "v", num: true, digits: 6}], metrics)) : null,
    p.error ? sec("Failure", codePre(p.error, "wrap")) : null,
    p.feedback ? sec("Feedback", codePre(p.feedback, "wrap")) : null,
    p.diff ? sec("Diff against its parent", diffPre(p.diff)) : null,
    sec("Code", el("pre", {id: "program-code", text: p.code})),
    p.prompt ? el("details", {}, el("summary", {text: "Prompt"}), codePre(p.prompt, "wrap")) : null,
    p.answer ? el("details", {}, el("summary", {text: "Answer"}), codePre(p.answer, "wrap")) : null,
    p.evaluations.length ? sec("Evaluations", table([{label: "kind", key: "kind"}, {label: "ok", fn: r => r.ok ? "yes" : "no"},
      {label: "score", key: "score", num: true}, {label: "reason", key: "exit_reason"}, {label: "seconds", key: "duration", num: true, digits: 2}], p.evaluations)) : null);
  refreshPrograms();
  $("browser").scrollIntoView({block: "start"});
}
async function postHint(clear) {
  // JSON only: a page of another site cannot send it without a preflight this server never answers.
  const island = $("hint-island").value, iterations = $("hint-for").value;
  const body = clear ? {clear: true, island: island === "" ? null : +island}
    : {text: $("hint-text").value, island: island === "" ? null : +island, for_iterations: iterations === "" ? null : +iterations};
  try {
    const r = await fetch("api/hint", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const answer = await r.json();
    fill("hint-status", answer.error ? `error: ${answer.error}` : answer.message);
    if (!answer.error && !clear) $("hint-text").value = "";
    refreshView();
  } catch (err) { fill("hint-status", `error: ${err.message}`); }
}
function startLive() {
  const set = (k, v) => { browse[k] = v; browse.offset = 0; refreshPrograms(); };
  $("f-status").addEventListener("change", (e) => set("status", e.target.value));
  $("f-island").addEventListener("change", (e) => set("island", e.target.value));
  $("f-sort").addEventListener("change", (e) => set("sort", e.target.value));
  $("f-prev").addEventListener("click", () => { browse.offset = Math.max(0, browse.offset - browse.limit); refreshPrograms(); });
  $("f-next").addEventListener("click", () => { browse.offset += browse.limit; refreshPrograms(); });
  $("hint-form").addEventListener("submit", (e) => { e.preventDefault(); postHint(false); });
  $("hint-clear").addEventListener("click", () => postHint(true));
  refreshView(); refreshPrograms();
  setInterval(() => { refreshView(); if (browse.offset === 0) refreshPrograms(); }, window.POLL_MS);
}
