// faultbox HTML report. Dependency-free; reads the JSON blob built by faultbox/report/html.py.
// Event rows: [seq, t_us, lane, type, [key, value, ...], clock] (strings are indexes into
// D.strings). The overview is plain DOM; a test's timeline is one canvas, its event list is
// virtualised (only the visible rows exist), so 100,000 events stay responsive.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("fb-data").textContent);
  const S = D.strings;
  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers (text only: nothing from the data is parsed as HTML) ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "cls") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const kv = (pairs) => el("div", { cls: "kv" },
    pairs.filter((p) => p[1] !== undefined && p[1] !== "").map(([k, v]) =>
      [el("span", { cls: "k", text: k }), el("span", { cls: "v" }, v)]));
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  // ---- categories and colours ----
  const CATS = ["allow", "deny", "delay", "trace", "partial", "step", "source", "lifecycle"];
  const CAT = Object.fromEntries(CATS.map((c, i) => [c, i]));
  const COLORS = ["#9aa5b1", "#d64545", "#dd8a1b", "#3b82c4", "#b5477d", "#7b4fc9", "#1a9c8c",
    "#4a5568"];
  const DECISIONS = ["allow", "deny", "delay", "trace", "partial"];  // CATS' first five
  const SOURCE_TYPES = new Set(["stdout", "stderr", "wal", "topic", "poll", "source_error"]);
  const WINDOW_COLORS = { fault: "rgba(214,69,69,0.13)", partition: "rgba(123,79,201,0.14)",
    trace: "rgba(59,130,196,0.06)" };
  const WINDOW_EDGES = { fault: "rgba(214,69,69,0.7)", partition: "rgba(123,79,201,0.7)",
    trace: "rgba(59,130,196,0.35)" };
  const index = new Map();  // string -> index, for the few keys the page looks up
  const key = (name) => {
    if (!index.size) S.forEach((s, i) => { if (s.length < 20 && !index.has(s)) index.set(s, i); });
    return index.has(name) ? index.get(name) : -1;
  };
  function field(ev, name) {
    const k = key(name), f = ev[4];
    for (let i = 0; i < f.length; i += 2) if (f[i] === k) return S[f[i + 1]];
    return undefined;
  }
  function category(ev) {
    const type = S[ev[3]];
    if (type === "syscall") {
      const d = field(ev, "decision") || "allow";
      for (const name of DECISIONS) if (d.startsWith(name)) return CAT[name];
      return CAT.allow;
    }
    if (type === "step_send" || type === "step_recv") return CAT.step;
    return SOURCE_TYPES.has(type) ? CAT.source : CAT.lifecycle;
  }
  function typeName(ev) {
    const type = S[ev[3]];
    if (type === "syscall") return "syscall." + (field(ev, "syscall") || "?");
    if (type === "step_send" || type === "step_recv") return type + "." + (field(ev, "target") || "");
    return type;
  }
  function summary(ev) {
    const type = S[ev[3]];
    if (type === "syscall") {
      const parts = [field(ev, "op") ? "op " + field(ev, "op") : "", field(ev, "label") ? `[${field(ev, "label")}]` : "",
        field(ev, "path") || "", field(ev, "latency_ms") ? `+${field(ev, "latency_ms")}ms` : ""];
      return parts.filter(Boolean).join("  ");
    }
    if (type === "step_send" || type === "step_recv") {
      const st = field(ev, "status_code") || field(ev, "error") || "";
      return `${field(ev, "method") || ""} → ${field(ev, "target") || ""}${field(ev, "path") ? " " + field(ev, "path") : ""}${st ? "  " + st : ""}`;
    }
    const msg = field(ev, "msg") || field(ev, "message") || field(ev, "line") || field(ev, "data");
    if (msg !== undefined) return msg;
    const f = ev[4], out = [];
    for (let i = 0; i < f.length && out.length < 6; i += 2) out.push(`${S[f[i]]}=${S[f[i + 1]]}`);
    return out.join(" ");
  }
  const ms = (us) => (us / 1000).toFixed(3);

  // ---- the tests ----
  const TESTS = D.tests;
  TESTS.forEach((t, i) => {
    t.index = i;
    t.passStar = t.result === "pass" && (t.faults_not_fired || []).length > 0;
  });
  const testHref = (t) => "#test=" + t.index;

  function totals() {
    const box = $("totals");
    const failed = TESTS.filter((t) => t.result !== "pass").length;
    const star = TESTS.filter((t) => t.passStar).length;
    box.append(el("span", { cls: "total" }, plural(TESTS.length, "test")),
      el("span", { cls: "total pass" }, `${TESTS.length - failed} passed`),
      el("span", { cls: "total" + (failed ? " fail" : "") }, `${failed} failed`));
    if (star) box.append(el("span", { cls: "total warn", title: "passed while a fault never fired" }, `${star} PASS*`));
    box.append(el("span", { cls: "total" }, `${(D.duration_ms / 1000).toFixed(1)}s`));
    $("spec").textContent = D.star_file || "";
    const foot = [`report of faultbox ${D.faultbox_version || D.report_version}`, `generated ${D.generated}`];
    if (D.sources.length > 1) foot.push(`merged from ${D.sources.length} result files: ${D.sources.join(", ")}`);
    $("foot").textContent = foot.join(" · ");
  }

  function replayBox(cmd) {
    const code = el("code", { cls: "replay-cmd", text: cmd });
    const btn = el("button", { type: "button", text: "copy", onclick: () => {
      const done = () => { btn.textContent = "copied"; setTimeout(() => { btn.textContent = "copy"; }, 1200); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(cmd).then(done, () => {});
      else { const r = document.createRange(); r.selectNodeContents(code); getSelection().removeAllRanges(); getSelection().addRange(r); document.execCommand("copy"); done(); }
    } });
    return el("div", { cls: "replay" }, code, btn);
  }

  function failureBlock(t) {
    const errors = (t.diagnostics || []).filter((d) => d.level === "error");
    return el("div", { cls: "failure", id: "failure-" + t.index },
      el("div", {}, el("a", { cls: "name", href: testHref(t), text: t.name }),
        t.matrix ? el("span", { cls: "muted" }, `  ${t.matrix.scenario} × ${t.matrix.fault}`) : null,
        el("span", { cls: "muted" }, `  ${t.failure_type || ""} · ${t.duration_ms}ms · seed ${t.seed}`)),
      kv([["reason", el("pre", { text: t.reason || "test failed" })],
        ["at:", t.location ? el("code", { text: t.location }) : ""],
        ["replay", replayBox(t.replay_command || "")]]),
      errors.map((d) => el("div", { cls: "muted" }, `${d.code}: ${d.message}`)));
  }

  function overview() {
    const failed = TESTS.filter((t) => t.result !== "pass");
    if (failed.length) {
      $("failures").append(el("h2", { text: `Failures (${failed.length})` }), ...failed.map(failureBlock));
    }
    const warn = [];
    for (const t of TESTS) {
      for (const f of t.faults_not_fired || []) warn.push([t, f.message]);
      for (const d of t.diagnostics || []) {
        if (d.level === "warning" && d.code !== "FAULT_NOT_FIRED") warn.push([t, `${d.code}: ${d.message}`]);
      }
    }
    if (warn.length) {
      $("warnings").append(el("h2", { text: `Warnings (${warn.length})` }),
        ...warn.map(([t, text]) => el("div", { cls: "warning" }, el("a", { href: testHref(t), text: t.name }), ": ", text)));
    }
    matrixGrid();
    testsTable();
  }

  function cellOf(t) {
    if (t.result !== "pass") return ["fail", "FAIL"];
    return t.passStar ? ["passstar", `PASS* (${t.duration_ms}ms)`] : ["pass", `PASS (${t.duration_ms}ms)`];
  }

  function matrixGrid() {
    const m = D.matrix;
    if (!m) return;
    const cells = new Map();
    for (const t of TESTS) if (t.matrix) cells.set(t.matrix.scenario + "\u0000" + t.matrix.fault, t);
    const excluded = new Set((m.excluded || []).map((e) => e.scenario + "\u0000" + e.fault));
    const star = TESTS.filter((t) => t.matrix && t.passStar).length;
    const failed = TESTS.filter((t) => t.matrix && t.result !== "pass").length;
    const table = el("table", { cls: "grid", id: "matrix-grid" },
      el("tr", {}, el("th", {}), m.faults.map((f) => el("th", { text: f }))),
      m.scenarios.map((s) => el("tr", {}, el("th", { cls: "scen", text: s }), m.faults.map((f) => {
        const k = s + "\u0000" + f, t = cells.get(k);
        if (!t) {
          const ex = excluded.has(k);
          return el("td", { cls: ex ? "cell-excluded" : "cell-notrun", "data-scenario": s, "data-fault": f },
            el("span", { text: ex ? "— (excluded)" : "—" }));
        }
        const [cls, text] = cellOf(t);
        const tip = t.result !== "pass" ? (t.reason || "") : t.passStar ? "passed, but a fault never fired" : "passed";
        return el("td", { cls: "cell-" + cls, "data-scenario": s, "data-fault": f, title: tip },
          el("a", { href: testHref(t), text }));
      }))));
    const n = cells.size;
    $("matrix").append(el("h2", { text: `Fault matrix: ${m.scenarios.length} scenarios × ${m.faults.length} faults = ${n} cells` }),
      table,
      el("div", { cls: "legend" }, `${n - failed}/${n} passed`, failed ? `, ${failed} failed` : "",
        star ? ` (${star} passed without ${star === 1 ? "its" : "their"} fault firing)` : "",
        el("span", { cls: "sw", style: "background:#e3f6ea" }), "PASS",
        el("span", { cls: "sw", style: "background:#fdf3dc" }), "PASS* passed, but a fault of the cell never fired",
        el("span", { cls: "sw", style: "background:#fde8e8" }), "FAIL"));
  }

  function testsTable() {
    const rows = TESTS.map((t) => {
      const [cls, text] = cellOf(t);
      return el("tr", {}, el("td", {}, el("a", { href: testHref(t), text: t.name })),
        el("td", {}, el("span", { cls: "badge " + cls, text: text.split(" ")[0] })),
        el("td", { cls: "num", text: `${t.duration_ms}ms` }), el("td", { cls: "num", text: String(t.seed) }),
        el("td", { cls: "num", text: String(t.ev.length) }),
        el("td", { cls: "muted", text: (t.reason || "").split("\n")[0] }));
    });
    $("tests").append(el("h2", { text: `Tests (${TESTS.length})` }),
      el("table", { cls: "tests", id: "tests-table" },
        el("tr", {}, ["test", "result", "duration", "seed", "events", "reason"].map((h) => el("th", { text: h }))), rows));
  }

  // ---- one test: timeline, filters, list, detail, outputs ----
  const LANE_H = 28, AXIS_H = 24, LEFT = 120, PAD = 18, MAX_ARROWS = 400;
  let cur = null;  // the state of the open test view

  function prepare(t) {
    if (t.prep) return t.prep;
    const n = t.ev.length, cat = new Uint8Array(n), types = new Map();
    const tName = new Array(n);
    for (let i = 0; i < n; i++) {
      const ev = t.ev[i];
      cat[i] = category(ev);
      const name = S[ev[3]];
      tName[i] = name;
      types.set(name, (types.get(name) || 0) + 1);
    }
    t.prep = { cat, types, tName };
    return t.prep;
  }

  function openTest(idx) {
    const t = TESTS[idx];
    const p = prepare(t);
    cur = { t, p, hiddenLanes: new Set(), hiddenDec: new Set(), hiddenTypes: new Set(), axis: "time",
      sel: -1, vis: null, lanes: null, view: [0, 1], listRows: [] };
    $("overview").hidden = true;
    $("test-view").hidden = false;
    testHead(t);
    filters(t, p);
    outputs(t);
    applyFilters();
    fit();
    window.scrollTo(0, 0);
  }

  function testHead(t) {
    const box = $("test-head");
    box.replaceChildren();
    const [cls, text] = cellOf(t);
    box.append(el("h2", {}, el("a", { href: "#", text: "← overview" }), "  ", t.name, "  ",
      el("span", { cls: "badge " + cls, text })));
    const pairs = [["seed", String(t.seed)], ["duration", `${t.duration_ms}ms`], ["events", String(t.ev.length)]];
    if (t.matrix) pairs.push(["matrix cell", `${t.matrix.scenario} × ${t.matrix.fault}`]);
    if (t.labels) pairs.push(["labels", Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(", ")]);
    if (t.result !== "pass") {
      pairs.push(["reason", el("pre", { text: t.reason || "test failed" })]);
      if (t.location) pairs.push(["at:", el("code", { text: t.location })]);
      pairs.push(["replay", replayBox(t.replay_command || "")]);
    }
    box.append(kv(pairs));
    if ((t.faults || []).length) {
      box.append(el("h3", { text: "Rules" }), el("table", { cls: "faults" },
        el("tr", {}, ["kind", "service", "rule", "label", "hits"].map((h) => el("th", { text: h }))),
        t.faults.map((f) => el("tr", {}, el("td", { text: f.kind || "fault" }), el("td", { text: f.service }),
          el("td", { cls: "mono", text: `${f.syscall}=${f.action}${f.errno ? "(" + f.errno + ")" : ""}${f.path ? ` path="${f.path}"` : ""}` }),
          el("td", { text: f.label }), el("td", { text: String(f.hits) })))));
    }
    const notes = [...(t.faults_not_fired || []).map((f) => `WARNING: ${f.message}`),
      ...(t.diagnostics || []).filter((d) => d.code !== "FAULT_NOT_FIRED").map((d) =>
        `${d.level === "info" ? "NOTE" : d.level.toUpperCase()}: ${d.message}${d.suggestion ? " — " + d.suggestion : ""}`)];
    if (notes.length) box.append(el("h3", { text: "Diagnostics" }), ...notes.map((n) => el("div", { cls: "warning", text: n })));
  }

  function checkboxes(title, id, items, hidden) {
    return el("fieldset", { id }, el("legend", { text: title }), items.map(([value, label, color, count]) =>
      el("label", {}, el("input", { type: "checkbox", value, checked: !hidden.has(value), onchange: (e) => {
        if (e.target.checked) hidden.delete(value); else hidden.add(value);
        applyFilters();
      } }), color ? el("span", { cls: "sw", style: "background:" + color }) : null, label,
      count !== undefined ? el("span", { cls: "muted", text: ` ${count}` }) : null)));
  }

  function filters(t, p) {
    const box = $("filters");
    box.replaceChildren();
    const laneCount = new Array(t.hosts.length).fill(0), decCount = DECISIONS.map(() => 0);
    for (let i = 0; i < t.ev.length; i++) {
      laneCount[t.ev[i][2]]++;
      if (p.tName[i] === "syscall") decCount[p.cat[i]]++;
    }
    box.append(
      checkboxes("service", "filter-service", t.hosts.map((h, i) => [String(i), h || "(suite)", null, laneCount[i]]), cur.hiddenLanes),
      checkboxes("decision", "filter-decision", DECISIONS.map((d, i) => [d, d, COLORS[i], decCount[i]]), cur.hiddenDec),
      checkboxes("type", "filter-type", [...p.types.entries()].sort().map(([name, count]) => [name, name, null, count]), cur.hiddenTypes));
  }

  function applyFilters() {
    const { t, p } = cur;
    const vis = [], lanes = t.hosts.map(() => []);
    for (let i = 0; i < t.ev.length; i++) {
      const ev = t.ev[i];
      if (cur.hiddenLanes.has(String(ev[2])) || cur.hiddenTypes.has(p.tName[i])) continue;
      if (p.tName[i] === "syscall" && cur.hiddenDec.has(CATS[p.cat[i]])) continue;
      vis.push(i);
      lanes[ev[2]].push(i);
    }
    cur.vis = vis;
    cur.lanes = lanes;
    sortLanes();
    renderList();
    draw();
  }

  const xOf = (i) => (cur.axis === "time" ? cur.t.ev[i][1] : i);
  function sortLanes() {
    if (cur.axis === "time") for (const lane of cur.lanes) lane.sort((a, b) => cur.t.ev[a][1] - cur.t.ev[b][1] || a - b);
    else for (const lane of cur.lanes) lane.sort((a, b) => a - b);
  }
  function fit() {
    const n = cur.t.ev.length;
    const hi = cur.axis === "time" ? Math.max(cur.t.end_us, 1) : Math.max(n - 1, 1);
    const pad = hi * 0.02;
    cur.view = [-pad, hi + pad];
    draw();
  }

  // ---- the canvas ----
  const canvas = $("timeline");
  const ctx = canvas.getContext("2d");
  function geometry() {
    const w = canvas.parentElement.clientWidth;
    const h = AXIS_H + cur.t.hosts.length * LANE_H + PAD;
    const scale = (w - LEFT - 10) / (cur.view[1] - cur.view[0]);
    return { w, h, scale, px: (x) => LEFT + (x - cur.view[0]) * scale, laneY: (l) => AXIS_H + l * LANE_H };
  }

  function niceStep(span, target) {
    const raw = span / target, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (p * m >= raw) return p * m;
    return p * 10;
  }

  function draw() {
    if (!cur) return;
    const g = geometry(), dpr = window.devicePixelRatio || 1, t = cur.t;
    if (canvas.width !== Math.round(g.w * dpr) || canvas.height !== Math.round(g.h * dpr)) {
      canvas.width = Math.round(g.w * dpr);
      canvas.height = Math.round(g.h * dpr);
      canvas.style.height = g.h + "px";
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.w, g.h);
    ctx.font = "12px system-ui, sans-serif";
    // lanes
    t.hosts.forEach((h, l) => {
      const y = g.laneY(l);
      ctx.fillStyle = l % 2 ? "#fafbfc" : "#ffffff";
      ctx.fillRect(0, y, g.w, LANE_H);
      ctx.fillStyle = cur.hiddenLanes.has(String(l)) ? "#b8bfcc" : "#1d2330";
      ctx.fillText(h || "(suite)", 8, y + LANE_H / 2 + 4);
    });
    ctx.fillStyle = "#dde1e8";
    ctx.fillRect(LEFT - 1, AXIS_H, 1, g.h - AXIS_H);
    // axis
    const span = cur.view[1] - cur.view[0], step = niceStep(span, Math.max(2, (g.w - LEFT) / 110));
    for (let x = Math.ceil(cur.view[0] / step) * step; x <= cur.view[1]; x += step) {
      const X = g.px(x);
      if (X < LEFT) continue;
      ctx.fillStyle = "#e6e9ef";
      ctx.fillRect(X, AXIS_H - 5, 1, g.h - AXIS_H + 5);
      ctx.fillStyle = "#6b7385";
      const label = cur.axis !== "time" ? `#${Math.round(x) + 1}`
        : step >= 1e6 ? `${+(x / 1e6).toFixed(3)}s` : `${+(x / 1000).toFixed(3)}ms`;
      ctx.fillText(label, X + 3, 14);
    }
    // fault / partition / trace windows
    for (const w of t.windows) {
      const [lane, s, e, kind, , first, last] = w;
      if (cur.hiddenLanes.has(String(lane))) continue;
      const x0 = cur.axis === "time" ? s : first, x1 = cur.axis === "time" ? e : last;
      const X0 = Math.max(LEFT, g.px(x0)), X1 = Math.min(g.w, g.px(x1));
      if (X1 < LEFT || X0 > g.w) continue;
      const y = g.laneY(lane) + 2;
      ctx.fillStyle = WINDOW_COLORS[kind] || WINDOW_COLORS.fault;
      ctx.fillRect(X0, y, Math.max(X1 - X0, 2), LANE_H - 4);
      ctx.fillStyle = WINDOW_EDGES[kind] || WINDOW_EDGES.fault;
      ctx.fillRect(X0, y, Math.max(X1 - X0, 2), 2);
    }
    // events: one Path2D per category, at most one mark per pixel column and category
    const paths = CATS.map(() => new Path2D()), lastPx = new Int32Array(CATS.length);
    for (let l = 0; l < cur.lanes.length; l++) {
      lastPx.fill(-1 << 30);
      const y = g.laneY(l) + 7, lane = cur.lanes[l];
      const lo = lowerBound(lane, cur.view[0]), hi = lowerBound(lane, cur.view[1] + 1e-9);
      for (let k = lo; k < hi; k++) {
        const i = lane[k], c = cur.p.cat[i], X = Math.floor(g.px(xOf(i)));
        if (X === lastPx[c]) continue;
        lastPx[c] = X;
        const wide = c === CAT.deny || c === CAT.delay || c === CAT.partial;
        paths[c].rect(X - (wide ? 1 : 0), y, wide ? 4 : 2, LANE_H - 14);
      }
    }
    for (const c of [CAT.lifecycle, CAT.allow, CAT.source, CAT.trace, CAT.step, CAT.delay,
      CAT.partial, CAT.deny]) {
      ctx.fillStyle = COLORS[c];
      ctx.fill(paths[c]);
    }
    drawArrows(g);
    if (cur.sel >= 0) {
      const ev = t.ev[cur.sel], X = g.px(xOf(cur.sel)), y = g.laneY(ev[2]);
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 2;
      ctx.strokeRect(X - 4, y + 3, 9, LANE_H - 6);
    }
  }

  function drawArrows(g) {
    const t = cur.t, visible = new Uint8Array(t.ev.length);
    for (const i of cur.vis) visible[i] = 1;
    ctx.strokeStyle = COLORS[CAT.step];
    ctx.fillStyle = COLORS[CAT.step];
    ctx.lineWidth = 1.3;
    const shown = [];
    for (const arrow of t.arrows) {
      const [from, to, fromLane, toLane] = arrow;
      if (cur.hiddenLanes.has(String(fromLane)) || cur.hiddenLanes.has(String(toLane))) continue;
      const a = from >= 0 ? from : to, b = to >= 0 ? to : from;
      if (!visible[a] && !visible[b]) continue;
      const X0 = g.px(xOf(a)), X1 = g.px(xOf(b));
      if (Math.max(X0, X1) < LEFT || Math.min(X0, X1) > g.w) continue;
      shown.push([X0, X1, fromLane, toLane]);
    }
    if (shown.length > MAX_ARROWS) {  // a blur of lines says nothing: ask for a zoom instead
      ctx.fillStyle = "#7b4fc9";
      ctx.fillText(`${shown.length} steps in view: zoom in to see their arrows`, LEFT + 8, g.h - 4);
      return;
    }
    for (const [X0, X1, fromLane, toLane] of shown) {
      const y0 = g.laneY(fromLane) + LANE_H / 2, y1 = g.laneY(toLane) + LANE_H / 2;
      ctx.beginPath();
      ctx.moveTo(X0, y0);
      ctx.lineTo(X1, y1);
      ctx.stroke();
      const ang = Math.atan2(y1 - y0, X1 - X0);
      ctx.beginPath();
      ctx.moveTo(X1, y1);
      ctx.lineTo(X1 - 8 * Math.cos(ang - 0.4), y1 - 8 * Math.sin(ang - 0.4));
      ctx.lineTo(X1 - 8 * Math.cos(ang + 0.4), y1 - 8 * Math.sin(ang + 0.4));
      ctx.closePath();
      ctx.fill();
    }
  }

  function lowerBound(lane, x) {
    let lo = 0, hi = lane.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (xOf(lane[mid]) < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function hit(clientX, clientY) {
    const r = canvas.getBoundingClientRect(), g = geometry();
    const mx = clientX - r.left, my = clientY - r.top;
    const l = Math.floor((my - AXIS_H) / LANE_H);
    if (mx < LEFT || l < 0 || l >= cur.lanes.length) return -1;
    const lane = cur.lanes[l], x = cur.view[0] + (mx - LEFT) / g.scale;
    const k = lowerBound(lane, x);
    let best = -1, bestD = 7;
    for (const j of [k - 1, k, k + 1]) {
      if (j < 0 || j >= lane.length) continue;
      const d = Math.abs(g.px(xOf(lane[j])) - mx);
      if (d < bestD) { bestD = d; best = lane[j]; }
    }
    return best;
  }

  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, view: cur.view.slice(), moved: false }; });
  window.addEventListener("mousemove", (e) => {
    if (!cur) return;
    if (drag) {
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        const shift = dx / geometry().scale;
        cur.view = [drag.view[0] - shift, drag.view[1] - shift];
        draw();
      }
      return;
    }
    const tip = $("tooltip");
    if (e.target !== canvas) { tip.hidden = true; return; }
    const i = hit(e.clientX, e.clientY);
    if (i < 0) { tip.hidden = true; return; }
    const ev = cur.t.ev[i], r = canvas.getBoundingClientRect();
    tip.textContent = `#${ev[0]} ${typeName(ev)} ${field(ev, "decision") || ""} ${summary(ev)}`.slice(0, 140);
    tip.style.left = Math.min(e.clientX - r.left + 12, r.width - 300) + "px";
    tip.style.top = (e.clientY - r.top + 14) + "px";
    tip.hidden = false;
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const wasClick = !drag.moved && e.target === canvas;
    drag = null;
    if (wasClick) { const i = hit(e.clientX, e.clientY); if (i >= 0) select(i, true); }
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect(), g = geometry();
    const at = cur.view[0] + (e.clientX - r.left - LEFT) / g.scale;
    const f = Math.exp(Math.max(-1, Math.min(1, e.deltaY * 0.002)));
    const minSpan = cur.axis === "time" ? 5 : 3;
    const span = Math.max((cur.view[1] - cur.view[0]) * f, minSpan);
    const frac = (at - cur.view[0]) / (cur.view[1] - cur.view[0]);
    cur.view = [at - frac * span, at - frac * span + span];
    draw();
  }, { passive: false });
  $("fit").addEventListener("click", () => fit());
  for (const radio of document.querySelectorAll("input[name=axis]")) {
    radio.addEventListener("change", (e) => { cur.axis = e.target.value; sortLanes(); fit(); });
  }
  window.addEventListener("resize", () => draw());

  // ---- the event list (virtualised) and the detail panel ----
  const ROW_H = 22, list = $("list"), rowsBox = $("list-rows");
  list.addEventListener("scroll", () => renderRows());
  function renderList() {
    $("list-spacer").style.height = cur.vis.length * ROW_H + "px";
    renderRows();
  }
  function renderRows() {
    if (!cur) return;
    const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
    const last = Math.min(cur.vis.length, first + Math.ceil(list.clientHeight / ROW_H) + 10);
    rowsBox.style.top = first * ROW_H + "px";
    const rows = [];
    for (let k = first; k < last; k++) {
      const i = cur.vis[k], ev = cur.t.ev[i], dec = field(ev, "decision") || "";
      const c = CATS[cur.p.cat[i]];
      rows.push(el("div", { cls: "row" + (i === cur.sel ? " sel" : ""), "data-index": String(i), onclick: () => select(i, false) },
        el("span", { text: String(ev[0]) }), el("span", { text: ms(ev[1]) }),
        el("span", { text: cur.t.hosts[ev[2]] || "(suite)" }), el("span", { text: typeName(ev) }),
        el("span", { cls: "d-" + c, text: dec }), el("span", { text: summary(ev) })));
    }
    rowsBox.replaceChildren(...rows);
  }

  function isoAt(t, us) {  // the event's wall-clock time (UTC, microseconds)
    if (!t.t0_ns) return "";
    const total = BigInt(t.t0_ns) / 1000n + BigInt(us);
    const d = new Date(Number(total / 1000n)).toISOString();
    return d.slice(0, 23) + String(total % 1000n).padStart(3, "0") + "Z";
  }

  function select(i, scrollList) {
    cur.sel = i;
    const t = cur.t, ev = t.ev[i];
    const pairs = [["seq", String(ev[0])], ["time", `+${ms(ev[1])}ms  (${isoAt(t, ev[1])})`],
      ["service", t.hosts[ev[2]] || "(suite)"], ["type", S[ev[3]]], ["event_type", typeName(ev)]];
    const f = ev[4];
    for (let k = 0; k < f.length; k += 2) pairs.push([S[f[k]], S[f[k + 1]]]);
    const clock = ev[5].map((n, h) => (n ? `"${t.hosts[h]}": ${n}` : "")).filter(Boolean);
    if (clock.length) pairs.push(["vector_clock", `{${clock.join(", ")}}`]);
    const box = $("detail");
    box.replaceChildren(el("h3", { text: `Event #${ev[0]}` }), el("div", { id: "detail-fields" }, kv(pairs)));
    const links = t.arrows.filter((a) => a[0] === i || a[1] === i);
    for (const [from, to] of links) {
      const other = from === i ? to : from;
      if (other < 0) continue;
      box.append(el("div", { cls: "muted" }, from === i ? "step → " : "← step from ",
        el("a", { href: "#", text: `#${t.ev[other][0]} ${typeName(t.ev[other])}`, onclick: (e) => { e.preventDefault(); select(other, true); } })));
    }
    if (scrollList) {
      const k = cur.vis.indexOf(i);
      if (k >= 0 && (k * ROW_H < list.scrollTop || (k + 1) * ROW_H > list.scrollTop + list.clientHeight)) {
        list.scrollTop = Math.max(0, k * ROW_H - list.clientHeight / 2);
      }
    }
    renderRows();
    draw();
  }

  function outputs(t) {
    const box = $("outputs");
    box.replaceChildren(el("h2", { text: "Output of the services" }));
    let any = false;
    t.hosts.forEach((h, l) => {
      if (!h || h === "test") return;
      let text = (t.service_output || {})[h];
      let what = "excerpt kept with the failure";
      if (!text) {
        const lines = [];
        for (let i = t.ev.length - 1; i >= 0 && lines.length < 20; i--) {
          const ev = t.ev[i], type = S[ev[3]];
          if (ev[2] === l && (type === "stdout" || type === "stderr")) lines.push(`${type}: ${summary(ev)}`);
        }
        text = lines.reverse().join("\n");
        what = "last lines recorded as events";
      }
      if (!text) return;
      any = true;
      box.append(el("h3", {}, h, el("span", { cls: "muted", text: `  (${what})` })), el("pre", { cls: "output", "data-service": h, text }));
    });
    if (!any) box.append(el("p", { cls: "muted", text: "No output was recorded." }));
  }

  // ---- routing ----
  function route() {
    const m = /^#test=(\d+)$/.exec(location.hash);
    if (m && TESTS[+m[1]]) { openTest(+m[1]); return; }
    cur = null;
    $("test-view").hidden = true;
    $("overview").hidden = false;
  }
  window.addEventListener("hashchange", route);

  if (D.data_version !== 1) document.body.prepend(el("p", { text: "This report was written by another faultbox version." }));
  totals();
  overview();
  route();
  // For tests and the benchmark: ready, with the time it took, and where an event is drawn.
  window.faultboxReport = {
    ready: true,
    readyMs: performance.now(),
    tests: TESTS.map((t) => t.name),
    open: (idx) => { history.replaceState(null, "", "#test=" + idx); route(); },
    select: (i) => select(i, true),
    eventPoint: (i) => {
      const g = geometry(), r = canvas.getBoundingClientRect(), ev = cur.t.ev[i];
      return { x: r.left + g.px(xOf(i)), y: r.top + g.laneY(ev[2]) + LANE_H / 2 };
    },
    state: () => (cur ? { test: cur.t.name, visible: cur.vis.length, selected: cur.sel } : null),
  };
})();
