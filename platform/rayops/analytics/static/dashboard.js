// rayops web dashboard: polls /dashboard/api/report and draws every chart as inline SVG.
// No library, no CDN: this file is the whole renderer. Every data point is an SVG element
// with data-ref / data-t / data-v attributes (tests count them).
(function () {
  "use strict";
  const CONFIG = JSON.parse(document.getElementById("config").textContent);
  const SVGNS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#6ea8fe", "#f28e2b", "#59c18e", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7"];
  const KIND_COLOR = { routing: "#6ea8fe", rollout: "#a178f5", registry: "#8c96ab", retrain: "#f28e2b", alert: "#ef5b5b" };
  const params = new URLSearchParams(location.search);
  const state = { endpoint: params.get("endpoint"), range: params.get("range") || CONFIG.range,
                  paused: false, timer: null, report: null };

  // ---------------------------------------------------------------- helpers
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  const UNITS = { accuracy: "share", error_rate: "share", mae: "num", rmse: "num",
                  latency_p50_ms: "ms", latency_p95_ms: "ms", latency_p99_ms: "ms",
                  precision: "share", recall: "share", ece: "share", positive_rate: "share",
                  logloss: "num", auc: "score", f1: "score", macro_f1: "score", brier: "score",
                  coverage: "share", share: "share" };
  // what each task shows: the loss its versions are compared on, its KPI cards and columns
  const TASKS = {
    regression: { loss: "mae", lossLabel: "MAE", lossUnit: "target units", accuracyUnit: "% within ±T",
                  cards: ["mae", "accuracy", "latency_p95_ms", "error_rate"],
                  columns: [["mae", "MAE"], ["accuracy", "accuracy"]] },
    binary: { loss: "logloss", lossLabel: "Log loss", lossUnit: "nats", accuracyUnit: "% right labels",
              cards: ["logloss", "auc", "accuracy", "f1", "latency_p95_ms", "error_rate"],
              columns: [["logloss", "log loss"], ["auc", "AUC"], ["accuracy", "accuracy"], ["f1", "F1"]] },
    multiclass: { loss: "logloss", lossLabel: "Log loss", lossUnit: "nats", accuracyUnit: "% right labels",
                  cards: ["logloss", "accuracy", "macro_f1", "latency_p95_ms", "error_rate"],
                  columns: [["logloss", "log loss"], ["accuracy", "accuracy"], ["macro_f1", "macro F1"]] },
  };
  const taskOf = (report) => TASKS[report.task] || TASKS.regression;
  function fmt(metric, v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
    const u = UNITS[metric];
    if (u === "share") return (v * 100).toFixed(v < 0.1 && v > 0 ? 2 : 1) + "%";
    if (u === "ms") return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " ms";
    if (u === "score") return v.toFixed(3);
    if (Math.abs(v) >= 100) return v.toFixed(0);
    return v.toPrecision(3);
  }
  function num(n) { return n.toLocaleString("en-US"); }
  function tick(metric, v) {  // axis labels: compact, the unit is in the axis title
    const u = UNITS[metric];
    if (u === "share") return (v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0) + "%";
    if (u === "ms") return v >= 1000 ? (v / 1000).toFixed(1) + "k" : String(+v.toFixed(1));
    return String(+v.toPrecision(3));
  }
  const ms = (t) => new Date(t).getTime();
  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function fmtTime(t, span, full) {
    const d = new Date(t);
    const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    const day = MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    if (full) return day + " " + hm + " UTC";
    if (span <= 36 * 3600e3) return hm;
    return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 ? day : day + " " + hm;
  }
  function niceTicks(lo, hi, n) {
    if (hi <= lo) hi = lo + 1;
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(12));
    return out;
  }
  const TIME_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
    .map((s) => s * 1000);
  function timeTicks(t0, t1, n) {
    const step = TIME_STEPS.find((s) => (t1 - t0) / s <= n) || TIME_STEPS[TIME_STEPS.length - 1];
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return out;
  }
  function colorMap(report) {
    const refs = report.versions.map((v) => v.ref).sort();
    const map = {};
    refs.forEach((r, i) => { map[r] = PALETTE[i % PALETTE.length]; });
    map["*"] = "var(--muted)";
    return map;
  }
  function tooltip(container) {
    let tip = container.querySelector(".tip");
    if (!tip) { tip = html("div", { class: "tip" }, container); tip.hidden = true; }
    return tip;
  }

  // ---------------------------------------------------------------- line chart
  function lineChart(container, o) {
    clear(container);
    const W = Math.max(container.clientWidth, 280), H = 220;
    const m = { l: 58, r: 14, t: 12, b: 26 };
    const all = o.series.flatMap((s) => s.points);
    if (!all.length) { html("div", { class: "empty" }, container, "no data in this range"); return; }
    const x0 = o.x0, x1 = o.x1;
    let ymax = Math.max(...all.map((p) => p[1]), o.target || 0) * 1.12;
    if (o.limit && o.limit < ymax * 1.6) ymax = Math.max(ymax, o.limit * 1.08);
    if (o.share) ymax = Math.min(Math.max(ymax, 0.02), 1.0);
    let ymin = 0;
    if (o.tight) {  // e.g. accuracy: start the axis near the data, on a 10% step
      const lo = Math.min(...all.map((p) => p[1]), o.target ?? 1, o.limit ?? 1);
      ymin = Math.max(0, Math.floor((lo - 0.05) * 10) / 10);
      ymax = 1.0;
    }
    const X = (t) => m.l + ((t - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - ((v - ymin) / (ymax - ymin || 1)) * (H - m.t - m.b);
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-chart": o.id,
                              role: "img", "aria-label": o.title }, container);
    const grid = svg("g", { class: "grid" }, root), axis = svg("g", { class: "axis" }, root);
    for (const v of niceTicks(ymin, ymax, 4)) {
      if (v > ymax) continue;
      svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }, grid);
      svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axis).textContent = tick(o.metric, v);
    }
    for (const t of timeTicks(x0, x1, Math.max(3, Math.floor(W / 95)))) {
      svg("line", { x1: X(t), x2: X(t), y1: H - m.b, y2: H - m.b + 4 }, axis);
      svg("text", { x: X(t), y: H - 8, "text-anchor": "middle" }, axis).textContent = fmtTime(t, x1 - x0);
    }
    svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }, axis);
    svg("text", { x: 10, y: m.t + (H - m.t - m.b) / 2, transform: `rotate(-90 10 ${m.t + (H - m.t - m.b) / 2})`,
                  "text-anchor": "middle" }, axis).textContent = o.yLabel;
    for (const [cls, val, label] of [["target", o.target, "target"], ["limit", o.limit, "limit"]]) {
      if (val === null || val === undefined || val > ymax) continue;
      const g = svg("g", { class: cls }, root);
      svg("line", { x1: m.l, x2: W - m.r, y1: Y(val), y2: Y(val) }, g);
      svg("text", { x: W - m.r - 2, y: Y(val) - 4, "text-anchor": "end" }, g).textContent = `${label} ${fmt(o.metric, val)}`;
    }
    const gap = 2.5 * o.step;
    for (const s of o.series) {
      const pts = s.points.slice().sort((a, b) => a[0] - b[0]);
      let d = "";
      pts.forEach((p, i) => {
        const move = i === 0 || p[0] - pts[i - 1][0] > gap;
        d += `${move ? "M" : "L"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`;
      });
      svg("path", { d, fill: "none", stroke: s.color, "stroke-width": s.dash ? 1.4 : 2, "stroke-linejoin": "round",
                    "stroke-dasharray": s.dash ? "5 4" : "none", "data-series": s.ref, class: "line" }, root);
      if (s.dash) continue;
      const g = svg("g", { class: "points" }, root);
      for (const p of pts) {
        svg("circle", { cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: pts.length > 60 ? 1.8 : 2.6,
                        fill: s.color, class: "pt", "data-ref": s.ref, "data-t": new Date(p[0]).toISOString(),
                        "data-v": p[1] }, g);
      }
    }
    // Hover: a crosshair and every series' value in the nearest bucket.
    const hover = svg("g", { class: "hover", visibility: "hidden" }, root);
    const vline = svg("line", { y1: m.t, y2: H - m.b }, hover);
    const tip = tooltip(container);
    const times = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
    root.addEventListener("mousemove", (ev) => {
      const r = root.getBoundingClientRect(), px = ev.clientX - r.left;
      const t = x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0);
      const near = times.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a), times[0]);
      vline.setAttribute("x1", X(near)); vline.setAttribute("x2", X(near));
      hover.setAttribute("visibility", "visible");
      clear(tip); tip.hidden = false;
      html("div", { class: "t" }, tip, fmtTime(near, 0, true));
      for (const s of o.series) {
        const p = s.points.find((q) => q[0] === near);
        if (!p) continue;
        const row = html("div", {}, tip);
        html("span", { class: "swatch", style: `background:${s.color}` }, row);
        row.appendChild(document.createTextNode(`${s.label}: ${fmt(o.metric, p[1])}`));
      }
      tip.style.left = Math.min(X(near) + 12, W - 190) + "px"; tip.style.top = "10px";
    });
    root.addEventListener("mouseleave", () => { hover.setAttribute("visibility", "hidden"); tip.hidden = true; });
    const legend = html("div", { class: "legend" }, container);
    for (const s of o.series) {
      const item = html("span", {}, legend);
      html("i", { class: s.dash ? "dash" : "", style: `background:${s.color}` }, item);
      item.appendChild(document.createTextNode(s.label));
    }
  }

  function versionSeries(report, metric, colors, withAll) {
    const byRef = {};
    for (const p of report.series) {
      if (p[metric] === null || p[metric] === undefined) continue;
      (byRef[p.ref] = byRef[p.ref] || []).push([ms(p.time), p[metric]]);
    }
    const refs = Object.keys(byRef).filter((r) => r !== "*").sort();
    const out = refs.map((r) => ({ ref: r, label: r, color: colors[r] || PALETTE[0], points: byRef[r] }));
    if (withAll && refs.length > 1 && byRef["*"]) {
      out.push({ ref: "*", label: "all versions", color: "var(--muted)", points: byRef["*"], dash: true });
    }
    return out;
  }

  // ---------------------------------------------------------------- KPI cards
  function sparkline(parent, values, color) {
    const W = 160, H = 30, pts = values.filter((v) => v[1] !== null);
    const root = svg("svg", { width: "100%", height: H, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" }, parent);
    if (pts.length < 2) return;
    const t0 = pts[0][0], t1 = pts[pts.length - 1][0] || t0 + 1;
    const lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
    const X = (t) => ((t - t0) / (t1 - t0 || 1)) * (W - 2) + 1, Y = (v) => H - 3 - ((v - lo) / (hi - lo || 1)) * (H - 6);
    const d = pts.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    svg("path", { d: d + `L${X(t1)},${H}L${X(t0)},${H}Z`, fill: color, opacity: 0.12, stroke: "none" }, root);
    svg("path", { d, fill: "none", stroke: color, "stroke-width": 1.6, "vector-effect": "non-scaling-stroke" }, root);
  }
  function trendText(m) {
    const t = m.trend;
    if (t.direction === "unknown") return ["·", "unknown"];
    const arrow = t.direction === "stable" ? "→" : (t.slope_per_day > 0 ? "↑" : "↓");
    const change = t.direction === "stable" || t.change === null ? "stable" : `${t.change > 0 ? "+" : ""}${(t.change * 100).toFixed(0)}%`;
    return [arrow + " " + change, t.direction];
  }
  function cards(report) {
    const root = clear(document.getElementById("cards"));
    const overall = report.series.filter((p) => p.ref === "*").sort((a, b) => ms(a.time) - ms(b.time));
    const tot = report.totals;
    const req = html("div", { class: "card st-ok" }, root);
    html("div", { class: "k" }, req, "Requests");
    html("div", { class: "v" }, req, num(tot.requests));
    const meta = html("div", { class: "meta" }, req);
    html("span", {}, meta, `${num(tot.labeled)} labeled rows`);
    html("span", {}, meta, `${tot.versions} version${tot.versions === 1 ? "" : "s"}`);
    sparkline(req, overall.map((p) => [ms(p.time), p.requests]), "#6ea8fe");
    for (const name of taskOf(report).cards) {
      const m = report.metrics.find((x) => x.metric === name);
      if (!m) continue;
      const card = html("div", { class: `card st-${m.status}`, "data-metric": name }, root);
      html("div", { class: "k" }, card, m.label.replace(" (within ±T)", ""));
      html("div", { class: "v" }, card, fmt(name, m.current));
      const meta = html("div", { class: "meta" }, card);
      const [tt, dir] = trendText(m);
      html("span", { class: `trend t-${dir}`, title: `trend over the range: ${dir}` }, meta, tt);
      html("span", {}, meta, m.target !== null ? `target ${fmt(name, m.target)}` : `baseline ${fmt(name, m.baseline)}`);
      const color = m.status === "critical" ? "#ef5b5b" : m.status === "warning" ? "#e9b949" : "#59c18e";
      sparkline(card, overall.map((p) => [ms(p.time), p[name]]), color);
    }
  }

  // ---------------------------------------------------------------- traffic
  function traffic(report, colors) {
    const root = clear(document.getElementById("traffic"));
    const routes = report.deployments.flatMap((d) => d.routes).filter((r) => r.weight > 0);
    const bar = html("div", { class: "split", "data-chart": "split" }, root);
    for (const r of routes) {
      const seg = html("div", { style: `width:${r.weight}%;background:${colors[r.ref] || PALETTE[0]}`,
                                title: `${r.ref}: ${r.weight}%`, "data-ref": r.ref, "data-v": r.weight }, bar,
                       r.weight >= 12 ? `${r.ref.split("@")[1]} · ${r.weight}%` : "");
      seg.className = "seg";
    }
    if (!routes.length) bar.replaceWith(html("div", { class: "empty" }, null, "no routing table"));
    const shadow = report.deployments.find((d) => d.shadow_ref);
    // Requests per bucket, stacked by version.
    const refs = [...new Set(report.series.filter((p) => p.ref !== "*").map((p) => p.ref))].sort();
    const buckets = {};
    for (const p of report.series) if (p.ref !== "*") (buckets[ms(p.time)] = buckets[ms(p.time)] || {})[p.ref] = p.requests;
    const times = Object.keys(buckets).map(Number).sort((a, b) => a - b);
    const W = Math.max(root.clientWidth, 280), H = 150, m = { l: 44, r: 10, t: 8, b: 24 };
    const x0 = ms(report.range.start), x1 = ms(report.range.end), step = report.range.bucket_seconds * 1000;
    const maxTotal = Math.max(1, ...Object.values(buckets).map((b) => Object.values(b).reduce((a, c) => a + c, 0)));
    const X = (t) => m.l + ((t - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - (v / maxTotal) * (H - m.t - m.b);
    const g = svg("svg", { width: W, height: H, "data-chart": "traffic" }, root);
    const grid = svg("g", { class: "grid" }, g), axis = svg("g", { class: "axis" }, g);
    for (const v of niceTicks(0, maxTotal, 3)) {
      svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }, grid);
      svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axis).textContent = num(v);
    }
    for (const t of timeTicks(x0, x1, Math.max(3, Math.floor(W / 95)))) {
      svg("text", { x: X(t), y: H - 7, "text-anchor": "middle" }, axis).textContent = fmtTime(t, x1 - x0);
    }
    const bw = Math.max(1, X(x0 + step) - X(x0) - 1.5);
    for (const t of times) {
      let acc = 0;
      for (const ref of refs) {
        const v = buckets[t][ref] || 0;
        if (!v) continue;
        const rect = svg("rect", { x: X(t) + 0.75, y: Y(acc + v), width: bw, height: Math.max(Y(acc) - Y(acc + v), 0.5),
                                   fill: colors[ref], class: "bar", "data-ref": ref, "data-t": new Date(t).toISOString(),
                                   "data-v": v, rx: 1 }, g);
        svg("title", {}, rect).textContent = `${ref} · ${fmtTime(t, 0, true)} · ${num(v)} requests`;
        acc += v;
      }
    }
    const legend = html("div", { class: "legend" }, root);
    for (const ref of refs) {
      const item = html("span", {}, legend);
      html("i", { style: `background:${colors[ref]};height:10px;width:10px` }, item);
      const v = report.versions.find((x) => x.ref === ref);
      item.appendChild(document.createTextNode(`${ref} — ${v && v.traffic_share !== null ? (v.traffic_share * 100).toFixed(1) : "0"}% of requests`));
    }
    if (shadow) html("span", {}, legend, `shadow: ${shadow.shadow_ref} (${(shadow.shadow_share * 100).toFixed(0)}% mirrored)`);
  }

  // ---------------------------------------------------------------- drift
  function heat(ratio) {  // green up to half the threshold, amber at it, red at twice it
    const r = Math.min(Math.max(ratio, 0), 2);
    const stops = [[63, 185, 127], [233, 185, 73], [239, 91, 91]];
    const [a, b, f] = r < 0.5 ? [stops[0], stops[0], 0]
      : r < 1 ? [stops[0], stops[1], (r - 0.5) * 2] : [stops[1], stops[2], r - 1];
    return `rgb(${a.map((c, i) => Math.round(c + (b[i] - c) * f)).join(",")})`;
  }
  function drift(report) {
    const bars = clear(document.getElementById("drift-bars")), map = clear(document.getElementById("drift-map"));
    const d = report.drift;
    document.getElementById("drift-sub").textContent = d ? `vs training baseline of ${d.baseline_ref}, last ${num(d.rows)} rows` : "";
    if (!d) {
      html("div", { class: "empty" }, bars, "no drift data: no baseline in the model card, or no logged features");
      html("div", { class: "empty" }, map, "—");
      return;
    }
    const feats = d.features.slice().sort((a, b) => b.score / b.threshold - a.score / a.threshold);
    const W = Math.max(bars.clientWidth, 280), row = 24, m = { l: 110, r: 120, t: 6, b: 22 };
    const H = m.t + m.b + row * feats.length;
    const maxRatio = Math.max(2, ...feats.map((f) => f.score / f.threshold)) * 1.05;
    const X = (r) => m.l + (Math.min(r, maxRatio) / maxRatio) * (W - m.l - m.r);
    const g = svg("svg", { width: W, height: H, "data-chart": "drift" }, bars);
    const axis = svg("g", { class: "axis" }, g);
    feats.forEach((f, i) => {
      const y = m.t + i * row, ratio = f.score / f.threshold;
      svg("text", { x: m.l - 8, y: y + row / 2 + 4, "text-anchor": "end" }, axis).textContent = f.feature;
      const rect = svg("rect", { x: m.l, y: y + 5, width: Math.max(X(ratio) - m.l, 2), height: row - 10, rx: 3,
                                 fill: heat(ratio), class: "bar", "data-ref": f.feature, "data-v": f.score }, g);
      svg("title", {}, rect).textContent = `${f.feature}: ${f.method} ${f.score.toFixed(3)} (threshold ${f.threshold})`;
      svg("text", { x: X(ratio) + 6, y: y + row / 2 + 4 }, axis).textContent = `${f.method} ${f.score.toFixed(2)}${f.drifted ? "  drifted" : ""}`;
    });
    const tg = svg("g", { class: "target" }, g);
    svg("line", { x1: X(1), x2: X(1), y1: m.t, y2: H - m.b }, tg);
    svg("text", { x: X(1), y: H - 6, "text-anchor": "middle" }, tg).textContent = "threshold";
    // Heatmap: features x time buckets.
    const times = [...new Set(d.series.map((p) => ms(p.time)))].sort((a, b) => a - b);
    if (!times.length) { html("div", { class: "empty" }, map, "not enough rows per bucket"); return; }
    const names = feats.map((f) => f.feature);
    const MW = Math.max(map.clientWidth, 280), mm = { l: 110, r: 10, t: 6, b: 24 };
    const MH = mm.t + mm.b + row * names.length;
    const x0 = ms(report.range.start), x1 = ms(report.range.end);
    const MX = (t) => mm.l + ((Math.min(Math.max(t, x0), x1) - x0) / (x1 - x0)) * (MW - mm.l - mm.r);
    const hm = svg("svg", { width: MW, height: MH, "data-chart": "drift-heatmap" }, map);
    const ax = svg("g", { class: "axis" }, hm);
    names.forEach((n, i) => {
      svg("text", { x: mm.l - 8, y: mm.t + i * row + row / 2 + 4, "text-anchor": "end" }, ax).textContent = n;
    });
    for (const p of d.series) {
      const i = names.indexOf(p.feature);
      if (i < 0) continue;
      const ratio = p.score / p.threshold;
      const cw = Math.max(MX(ms(p.end)) - MX(ms(p.time)) - 1, 1);
      const c = svg("rect", { x: MX(ms(p.time)) + 0.5, y: mm.t + i * row + 2, width: cw, height: row - 4, rx: 2,
                              fill: heat(ratio), class: "cell", "data-ref": p.feature, "data-t": p.time, "data-v": p.score }, hm);
      svg("title", {}, c).textContent = `${p.feature} · ${fmtTime(ms(p.time), 0, true)} → ${fmtTime(ms(p.end), 0, true)} · score ${p.score.toFixed(3)} (${ratio.toFixed(2)}× threshold, ${p.rows} rows)`;
    }
    for (const t of timeTicks(x0, x1, Math.max(3, Math.floor(MW / 95)))) {
      svg("text", { x: MX(t), y: MH - 7, "text-anchor": "middle" }, ax).textContent = fmtTime(t, x1 - x0);
    }
    const legend = html("div", { class: "legend" }, map);
    for (const [r, label] of [[0, "no drift"], [1, "at threshold"], [2, "≥ 2× threshold"]]) {
      const item = html("span", {}, legend);
      html("i", { style: `background:${heat(r)};height:10px;width:14px` }, item);
      item.appendChild(document.createTextNode(label));
    }
  }

  // ---------------------------------------------------------------- uncertainty and attribution
  function uncSeries(points, key, colors) {
    const byRef = {};
    for (const p of points) {
      const v = typeof key === "function" ? key(p) : p[key];
      if (v === null || v === undefined) continue;
      (byRef[p.ref] = byRef[p.ref] || []).push([ms(p.time), v]);
    }
    return Object.keys(byRef).sort().map((r) => ({ ref: r, label: r, color: colors[r] || PALETTE[0], points: byRef[r] }));
  }
  function xyChart(container, o) {  // numeric x in [0, 1] (the calibration curve)
    clear(container);
    const W = Math.max(container.clientWidth, 280), H = 220, m = { l: 46, r: 14, t: 12, b: 30 };
    if (!o.series.some((s) => s.points.length)) { html("div", { class: "empty" }, container, o.empty); return; }
    const X = (v) => m.l + v * (W - m.l - m.r), Y = (v) => H - m.b - v * (H - m.t - m.b);
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-chart": o.id, role: "img",
                              "aria-label": o.title }, container);
    const grid = svg("g", { class: "grid" }, root), axis = svg("g", { class: "axis" }, root);
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }, grid);
      svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axis).textContent = v.toFixed(2);
      svg("text", { x: X(v), y: H - 12, "text-anchor": "middle" }, axis).textContent = v.toFixed(2);
    }
    svg("text", { x: (W + m.l) / 2, y: H - 1, "text-anchor": "middle" }, axis).textContent = o.xLabel;
    const diag = svg("g", { class: "target" }, root);
    svg("line", { x1: X(0), y1: Y(0), x2: X(1), y2: Y(1) }, diag);
    for (const s of o.series) {
      const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
      svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "line", "data-series": s.ref }, root);
      const g = svg("g", { class: "points" }, root);
      for (const p of s.points) {
        const c = svg("circle", { cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 3, fill: s.color, class: "pt",
                                  "data-ref": s.ref, "data-x": p[0], "data-v": p[1] }, g);
        svg("title", {}, c).textContent = `${s.label}: predicted ${p[0].toFixed(3)}, observed ${p[1].toFixed(3)}`;
      }
    }
    const legend = html("div", { class: "legend" }, container);
    for (const s of o.series) {
      const item = html("span", {}, legend);
      html("i", { style: `background:${s.color}` }, item);
      item.appendChild(document.createTextNode(s.label));
    }
  }
  function histogram(container, h) {
    clear(container);
    if (!h) { html("div", { class: "empty" }, container, "no baseline histogram in the model card"); return; }
    const W = Math.max(container.clientWidth, 280), H = 220, m = { l: 46, r: 10, t: 12, b: 46 };
    const n = h.bins.length, bw = (W - m.l - m.r) / n;
    const top = Math.max(...h.baseline, ...h.current, 0.01) * 1.1;
    const Y = (v) => H - m.b - (v / top) * (H - m.t - m.b);
    const root = svg("svg", { width: W, height: H, "data-chart": "histogram", "data-feature": h.feature }, container);
    const axis = svg("g", { class: "axis" }, root);
    for (const v of niceTicks(0, top, 3)) {
      if (v > top) continue;
      svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axis).textContent = tick("share", v);
    }
    h.bins.forEach((label, i) => {
      const x = m.l + i * bw;
      for (const [j, part, color] of [[0, "baseline", "var(--muted)"], [1, "current", PALETTE[0]]]) {
        const v = h[part][i];
        const r = svg("rect", { x: x + 2 + j * (bw - 4) / 2, y: Y(v), width: Math.max((bw - 4) / 2 - 1, 1),
                                height: Math.max(H - m.b - Y(v), 0), fill: color, class: `bar ${part}`,
                                "data-ref": part, "data-v": v }, root);
        svg("title", {}, r).textContent = `${label}: ${part} ${(v * 100).toFixed(1)}%`;
      }
      const numeric = h.kind === "numeric", every = Math.ceil(n / (numeric ? 5 : 8));
      if (i % every === 0) {  // numeric bins are labelled by their lower edge
        const text = numeric ? label.slice(1).split(",")[0] : label.slice(0, 10);
        svg("text", { x: numeric ? x : x + bw / 2, y: H - m.b + 14, "text-anchor": numeric ? "start" : "middle" },
            axis).textContent = text;
      }
    });
    const legend = html("div", { class: "legend" }, container);
    for (const [label, color] of [["training baseline", "var(--muted)"], [`current (${num(h.rows)} rows)`, PALETTE[0]]]) {
      const item = html("span", {}, legend);
      html("i", { style: `background:${color}` }, item);
      item.appendChild(document.createTextNode(label));
    }
  }
  function uncertainty(report, colors, x0, x1, step) {
    const pts = report.uncertainty || [];
    const level = pts.length ? pts[pts.length - 1].level : null;
    document.getElementById("unc-sub").textContent = level !== null ? `nominal ${(level * 100).toFixed(0)}%` : "no uncertainty data";
    lineChart(document.getElementById("chart-coverage"), { id: "coverage", metric: "coverage", title: "coverage",
      yLabel: "coverage", series: uncSeries(pts, "coverage", colors), x0, x1, step, share: true, tight: true,
      target: level });
    const sets = report.task !== "regression";
    document.getElementById("title-width").textContent = sets ? "Prediction-set size per version" : "Interval width per version";
    lineChart(document.getElementById("chart-width"), { id: "interval-width", metric: sets ? "set_size" : "interval_width",
      title: "width", yLabel: sets ? "classes per set" : "upper − lower",
      series: uncSeries(pts, sets ? "set_size" : "interval_width", colors), x0, x1, step });
    const est = sets ? "estimated_accuracy" : "estimated_mae";
    const refs = [...new Set(pts.map((p) => p.ref))].sort();
    const series = [];
    refs.forEach((ref, i) => {
      const mine = pts.filter((p) => p.ref === ref);
      series.push(...uncSeries(mine, est, {}).map((s) => ({ ...s, ref: `${ref} estimated`, label: `${ref} estimated`,
                                                           color: colors[ref] || PALETTE[i % PALETTE.length] })));
      series.push(...uncSeries(mine, "realized", {}).map((s) => ({ ...s, ref: `${ref} realized`, label: `${ref} realized`,
                                                                  color: PALETTE[(i + 3) % PALETTE.length] })));
    });
    document.getElementById("est-sub").textContent = sets ? "accuracy, estimated before labels vs realized" : "MAE, estimated before labels vs realized";
    lineChart(document.getElementById("chart-estimated"), { id: "estimated", metric: sets ? "accuracy" : "mae",
      title: "estimated vs realized", yLabel: sets ? "accuracy" : "MAE", series, x0, x1, step, share: sets, tight: sets });
    const imp = (report.importance || [])[0];
    document.getElementById("imp-sub").textContent = imp
      ? `${imp.ref}: largest move from training ${(imp.shift * 100).toFixed(0)} points${imp.rank_changed ? ", top-k changed" : ""}`
      : "no explained rows yet";
    const feats = imp ? [...new Set(imp.series.map((p) => p.feature))].sort() : [];
    lineChart(document.getElementById("chart-importance"), { id: "importance", metric: "share", title: "importance",
      yLabel: "share", x0, x1, step: 3600e3, share: true,
      series: feats.map((f, i) => ({ ref: f, label: `${f} (training ${((imp.training[f] || 0) * 100).toFixed(0)}%)`,
        color: PALETTE[i % PALETTE.length], points: imp.series.filter((p) => p.feature === f).map((p) => [ms(p.time), p.share]) })) });
    const cal = (report.calibration || [])[0];
    xyChart(document.getElementById("chart-calibration"), { id: "calibration", title: "calibration curve",
      xLabel: "predicted probability", empty: "no calibration data (regression, or no classifier card)",
      series: cal ? [
        { ref: "before", label: `${cal.ref} raw (ECE ${(cal.ece_before ?? 0).toFixed(3)})`, color: "var(--muted)",
          points: cal.predicted_before.map((x, i) => [x, cal.observed_before[i]]) },
        { ref: "after", label: `${cal.method} (ECE ${(cal.ece_after ?? 0).toFixed(3)})`, color: PALETTE[0],
          points: cal.predicted_after.map((x, i) => [x, cal.observed_after[i]]) },
      ] : [] });
    const pick = document.getElementById("hist-feature"), hists = report.histograms || [];
    const chosen = pick.value && hists.some((h) => h.feature === pick.value) ? pick.value
      : (report.drift && report.drift.features.length
        ? report.drift.features.slice().sort((a, b) => b.score / b.threshold - a.score / a.threshold)[0].feature
        : (hists[0] || {}).feature);
    clear(pick);
    for (const h of hists) {
      const o = html("option", { value: h.feature }, pick, h.feature);
      if (h.feature === chosen) o.selected = true;
    }
    pick.onchange = () => histogram(document.getElementById("chart-histogram"), hists.find((h) => h.feature === pick.value));
    histogram(document.getElementById("chart-histogram"), hists.find((h) => h.feature === chosen));
  }

  // ---------------------------------------------------------------- timeline
  function timeline(report) {
    const root = clear(document.getElementById("timeline"));
    const x0 = ms(report.range.start), x1 = ms(report.range.end);
    const events = report.timeline;
    const W = Math.max(root.clientWidth, 300), H = 86, m = { l: 16, r: 16 };
    const X = (t) => m.l + ((t - x0) / (x1 - x0)) * (W - m.l - m.r);
    const kinds = ["routing", "rollout", "registry", "retrain", "alert"];
    const g = svg("svg", { width: W, height: H, "data-chart": "timeline" }, root);
    const axis = svg("g", { class: "axis" }, g);
    svg("line", { x1: m.l, x2: W - m.r, y1: 56, y2: 56 }, axis);
    for (const t of timeTicks(x0, x1, Math.max(3, Math.floor(W / 110)))) {
      svg("line", { x1: X(t), x2: X(t), y1: 56, y2: 60 }, axis);
      svg("text", { x: X(t), y: 74, "text-anchor": "middle" }, axis).textContent = fmtTime(t, x1 - x0);
    }
    for (const e of events) {
      const t = ms(e.time), lane = kinds.indexOf(e.kind), y = 12 + lane * 9;
      const c = svg("g", { class: "event", "data-kind": e.kind, "data-t": e.time }, g);
      svg("line", { x1: X(t), x2: X(t), y1: y, y2: 56, stroke: KIND_COLOR[e.kind], "stroke-opacity": 0.35 }, c);
      const shape = e.kind === "registry" ? "circle" : "rect";
      if (shape === "circle") svg("circle", { cx: X(t), cy: y, r: 4.5, fill: KIND_COLOR[e.kind] }, c);
      else svg("rect", { x: X(t) - 4.5, y: y - 4.5, width: 9, height: 9, rx: e.kind === "retrain" ? 1 : 2,
                         transform: e.kind === "routing" || e.kind === "rollout" ? `rotate(45 ${X(t)} ${y})` : "",
                         fill: KIND_COLOR[e.kind] }, c);
      svg("title", {}, c).textContent = `${fmtTime(t, 0, true)} · ${e.kind}: ${e.title}${e.detail ? " — " + e.detail : ""}`;
    }
    const legend = html("div", { class: "legend" }, root);
    for (const k of kinds) {
      const item = html("span", {}, legend);
      html("i", { style: `background:${KIND_COLOR[k]};height:9px;width:9px` }, item);
      item.appendChild(document.createTextNode(`${k} (${events.filter((e) => e.kind === k).length})`));
    }
    const list = html("div", { class: "events" }, root);
    const latest = report.deployments.flatMap((d) => d.last_events);
    const shown = (events.length ? events.slice().reverse() : latest).slice(0, 12);
    if (!shown.length) html("div", { class: "empty" }, list, "no events");
    for (const e of shown) {
      const row = html("div", {}, list);
      html("span", { class: "when" }, row, fmtTime(ms(e.time), 0, true));
      html("span", { class: "kind", style: `color:${KIND_COLOR[e.kind]}` }, row, e.kind);
      html("span", {}, row, e.title + (e.detail ? ` — ${e.detail}` : "") + (e.actor ? ` (${e.actor})` : ""));
    }
  }

  // ---------------------------------------------------------------- lists and tables
  function recommendations(report) {
    const root = clear(document.getElementById("recs"));
    root.className = "recs";
    if (!report.recommendations.length) html("div", { class: "empty" }, root, "Nothing to do: every metric is within target.");
    for (const r of report.recommendations) {
      const row = html("div", { class: "rec", "data-priority": r.priority }, root);
      html("span", { class: `p ${r.priority}` }, row, r.priority);
      const body = html("div", {}, row);
      html("span", { class: "w" }, body, r.title);
      html("span", { class: "a" }, body, " → " + r.action);
    }
  }
  function versions(report, colors) {
    const root = clear(document.getElementById("versions"));
    if (!report.versions.length) { html("div", { class: "empty" }, root, "no versions served in this range"); return; }
    const t = html("table", { class: "tbl" }, root);
    const head = html("tr", {}, html("thead", {}, t));
    const cols = taskOf(report).columns;
    const names = ["version", "stage", "weight", "requests", cols[0][1], "vs ref", ...cols.slice(1).map((c) => c[1]), "p95", "errors", "status"];
    for (const c of names) html("th", {}, head, c);
    const body = html("tbody", {}, t);
    for (const v of report.versions.slice().sort((a, b) => (b.weight || 0) - (a.weight || 0))) {
      const tr = html("tr", {}, body);
      const first = html("td", {}, tr);
      html("span", { class: "swatch", style: `background:${colors[v.ref]}` }, first);
      first.appendChild(document.createTextNode(v.ref + (v.reference ? " ★" : "") + (v.shadow ? " (shadow)" : "")));
      html("td", {}, tr, v.stage || "—");
      html("td", {}, tr, v.weight === null ? "—" : `${v.weight}%`);
      html("td", {}, tr, num(v.requests));
      html("td", {}, tr, fmt(cols[0][0], v[cols[0][0]]));
      const vs = v.loss_change_vs_reference !== undefined ? v.loss_change_vs_reference : v.mae_change_vs_reference;
      html("td", { class: vs === null ? "" : vs > 0 ? "t-declining" : "t-improving" }, tr,
           vs === null ? "" : `${vs > 0 ? "+" : ""}${(vs * 100).toFixed(0)}%`);
      for (const [key] of cols.slice(1)) html("td", { "data-metric": key }, tr, fmt(key, v[key]));
      html("td", {}, tr, fmt("latency_p95_ms", v.latency_p95_ms));
      html("td", {}, tr, fmt("error_rate", v.error_rate));
      const st = html("td", {}, tr);
      html("span", { class: `chip s-${v.status}` }, st, v.status.replace("_", " "));
    }
  }
  function health(report) {
    const root = clear(document.getElementById("health")), alerts = clear(document.getElementById("alerts"));
    const row = html("div", { class: "healthrow" }, root);
    if (!report.health.length) html("span", { class: "chip s-unknown" }, row, "health: not reported");
    for (const h of report.health) {
      html("span", { class: `chip s-${h.state}`, title: h.reasons.join("; ") }, row, `${h.ref === "*" ? "endpoint" : h.ref}: ${h.state}`);
    }
    alerts.className = "alerts";
    if (!report.alerts.length) html("div", { class: "empty" }, alerts, "no alerts in this range");
    for (const a of report.alerts.slice(0, 8)) {
      const r = html("div", { class: "rec" }, alerts);
      html("span", { class: `p ${a.severity === "critical" ? "critical" : "medium"}` }, r, a.severity);
      html("span", {}, r, `${fmtTime(ms(a.time), 0, true)} · ${a.message}`);
    }
  }
  function headline(report) {
    const root = clear(document.getElementById("headline"));
    html("span", { class: "name" }, root, report.name);
    const classes = report.classes ? ` (${report.classes.slice(0, 4).join(" / ")}${report.classes.length > 4 ? " …" : ""})` : "";
    html("span", { class: "chip s-ok", "data-task": report.task || "regression" }, root, `${report.task || "regression"}${classes}`);
    const r = report.range;
    const p1 = html("span", {}, root);
    p1.appendChild(document.createTextNode(`${fmtTime(ms(r.start), 0, true)} → ${fmtTime(ms(r.end), 0, true)} · buckets of `));
    html("b", {}, p1, `${r.bucket_seconds >= 3600 ? r.bucket_seconds / 3600 + " h" : r.bucket_seconds / 60 + " min"}`);
    const worst = ["critical", "warning", "ok"].find((s) => report.metrics.some((m) => m.status === s)) || "no_data";
    html("span", { class: `chip s-${worst}` }, root, `metrics ${worst.replace("_", " ")}`);
    const d = report.deployments[0];
    if (d && d.rollout) html("span", {}, root, `rollout ${d.rollout.strategy} of ${d.rollout.candidate}: ${d.rollout.status} at ${d.rollout.weight}%`);
    if (report.notes.length) html("span", { title: report.notes.join("\n") }, root, `${report.notes.length} note(s)`);
  }

  // ---------------------------------------------------------------- page
  function render(report) {
    state.report = report;
    const colors = colorMap(report);
    const x0 = ms(report.range.start), x1 = ms(report.range.end), step = report.range.bucket_seconds * 1000;
    const metric = (id) => report.metrics.find((m) => m.metric === id) || {};
    headline(report);
    cards(report);
    recommendations(report);
    const task = taskOf(report);
    document.getElementById("title-loss").firstChild.textContent = `${task.lossLabel} per version `;
    document.getElementById("unit-loss").textContent = task.lossUnit;
    document.getElementById("unit-accuracy").textContent = task.accuracyUnit;
    lineChart(document.getElementById("chart-mae"), { id: task.loss, metric: task.loss, title: `${task.lossLabel} per version`,
      yLabel: task.lossLabel, series: versionSeries(report, task.loss, colors, true), x0, x1, step,
      target: metric(task.loss).target });
    lineChart(document.getElementById("chart-latency"), { id: "latency", metric: "latency_p95_ms", title: "p95 latency", yLabel: "p95 (ms)",
      series: versionSeries(report, "latency_p95_ms", colors, false), x0, x1, step, target: metric("latency_p95_ms").target,
      limit: metric("latency_p95_ms").limit });
    lineChart(document.getElementById("chart-errors"), { id: "error_rate", metric: "error_rate", title: "error rate", yLabel: "errors",
      series: versionSeries(report, "error_rate", colors, true), x0, x1, step, share: true, target: metric("error_rate").target,
      limit: metric("error_rate").limit });
    lineChart(document.getElementById("chart-accuracy"), { id: "accuracy", metric: "accuracy", title: "accuracy", yLabel: "accuracy",
      series: versionSeries(report, "accuracy", colors, true), x0, x1, step, share: true, tight: true,
      target: metric("accuracy").target, limit: metric("accuracy").limit });
    traffic(report, colors);
    drift(report);
    uncertainty(report, colors, x0, x1, step);
    timeline(report);
    versions(report, colors);
    health(report);
    document.getElementById("foot").textContent =
      `schema v${report.schema_version} · trend: ${report.metrics[0] ? report.metrics[0].trend.method : ""}, threshold ` +
      `${(report.settings.trend_threshold * 100).toFixed(0)}%, α ${report.settings.trend_alpha} · generated ${fmtTime(ms(report.generated_at), 0, true)}`;
    document.body.setAttribute("data-ready", "true");
  }

  // ---------------------------------------------------------------- rollout analysis
  // The latest rollout's analyses (canary steps, then the post-deploy guard's checks):
  // stable's and the candidate's loss per analysis, and the gate's verdict and p-value.
  function rolloutChart(doc) {
    const panel = document.getElementById("rollout-panel");
    const points = (doc && doc.analyses) || [];
    panel.hidden = !points.length;
    if (!points.length) return;
    const r = doc.rollout, metric = (points.find((p) => p.metric) || {}).metric || "loss";
    const t = points.map((p) => ms(p.time));
    const span = Math.max(t[t.length - 1] - t[0], 1000);
    const series = [["stable", r.stable, "#7aa2f7", "stable_metric"], ["candidate", r.candidate, "#f7768e", "candidate_metric"]]
      .map(([role, ref, color, key]) => ({ ref, color, label: `${role} ${ref}`,
        points: points.filter((p) => p[key] !== null && p[key] !== undefined).map((p) => [ms(p.time), p[key]]) }));
    const guard = r.guard ? ` · guard ${r.guard.status}` : "";
    document.getElementById("rollout-sub").textContent = `${r.strategy} of ${r.candidate} over ${r.stable}: ${r.status}${guard} · ${metric}`;
    lineChart(document.getElementById("chart-rollout"), {
      id: "rollout", title: "rollout analysis", metric, yLabel: metric, series,
      x0: t[0] - span * 0.05, x1: t[t.length - 1] + span * 0.05, step: span,
    });
    const steps = clear(document.getElementById("rollout-steps"));
    const tbl = html("table", { class: "tbl steps" }, steps);
    const head = html("tr", {}, tbl);
    for (const c of ["time", "phase", "weight", "stable", "candidate", "gate", "p", "verdict"]) html("th", {}, head, c);
    for (const p of points.slice(-12).reverse()) {
      const row = html("tr", { class: "step", "data-phase": p.phase, "data-verdict": p.verdict, "data-gate": p.gate || "" }, tbl);
      for (const v of [fmtTime(ms(p.time), 0, true), p.phase, `${p.weight}%`, fmt(metric, p.stable_metric),
                       fmt(metric, p.candidate_metric), p.gate || "—",
                       p.p_value === null || p.p_value === undefined ? "—" : p.p_value.toPrecision(2), p.verdict]) {
        html("td", {}, row, String(v));
      }
    }
  }
  async function refreshRollout() {
    try {
      rolloutChart(await getJSON(`/dashboard/api/rollout?${new URLSearchParams({ endpoint: state.endpoint })}`));
    } catch (e) {
      document.getElementById("rollout-panel").hidden = true;  // the report's banner speaks for errors
    }
  }

  function banner(text) {
    const b = document.getElementById("banner");
    b.hidden = !text; b.textContent = text || "";
    document.getElementById("dot").className = text ? "dot error" : state.paused ? "dot paused" : "dot";
  }
  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  }
  async function refresh() {
    if (!state.endpoint) return;
    try {
      const q = new URLSearchParams({ endpoint: state.endpoint, range: state.range });
      const report = await getJSON(`/dashboard/api/report?${q}`);
      render(report);
      await refreshRollout();
      banner("");
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      banner(`Could not load the report: ${e.message}`);
    }
  }
  function schedule() {
    clearTimeout(state.timer);
    if (!state.paused) state.timer = setTimeout(async () => { await refresh(); schedule(); }, CONFIG.refresh_s * 1000);
  }
  function syncUrl() {
    const q = new URLSearchParams({ endpoint: state.endpoint || "", range: state.range });
    history.replaceState(null, "", `${location.pathname}?${q}`);
    for (const b of document.querySelectorAll("#ranges button")) b.classList.toggle("on", b.dataset.range === state.range);
  }
  async function start() {
    const select = document.getElementById("endpoint");
    try {
      const info = await getJSON("/dashboard/api/endpoints");
      for (const name of info.endpoints) html("option", { value: name }, select, name);
      if (!state.endpoint || !info.endpoints.includes(state.endpoint)) state.endpoint = state.endpoint || info.endpoints[0];
      if (state.endpoint && !info.endpoints.includes(state.endpoint)) html("option", { value: state.endpoint }, select, state.endpoint);
      select.value = state.endpoint || "";
      if (!info.endpoints.length && !state.endpoint) banner("No endpoints yet: create one with `rayops endpoints create`.");
    } catch (e) { banner(`Could not list endpoints: ${e.message}`); }
    select.addEventListener("change", () => { state.endpoint = select.value; syncUrl(); refresh(); });
    for (const b of document.querySelectorAll("#ranges button")) {
      b.addEventListener("click", () => { state.range = b.dataset.range; syncUrl(); refresh(); });
    }
    document.getElementById("pause").addEventListener("click", (ev) => {
      state.paused = !state.paused;
      ev.target.textContent = state.paused ? "resume" : "pause";
      document.getElementById("dot").className = state.paused ? "dot paused" : "dot";
      schedule();
    });
    let resize = null;
    window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(() => state.report && render(state.report), 150); });
    syncUrl();
    await refresh();
    schedule();
  }
  start();
})();
