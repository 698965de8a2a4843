// The trace viewer's pages: the runs list, a run's trace and the metrics
// summary. Plain JavaScript, no build step; every value from the API is set
// as text.
"use strict";

const POLL_MS = 2000;
const base = new URL(document.baseURI);
const app = document.getElementById("app");
// The runs page: the base without its slash (nested under a prefix, axum
// serves it at `/prefix`, not `/prefix/`).
const HOME = base.pathname.length > 1 ? base.pathname.replace(/\/$/, "") : "/";
for (const a of document.querySelectorAll("a.brand")) a.setAttribute("href", HOME);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function getJson(path) {
  const res = await fetch(new URL(path, base), { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function ms(v) {
  if (v === undefined || v === null) return "";
  if (v >= 1000) return (v / 1000).toFixed(2) + " s";
  if (v >= 10) return v.toFixed(0) + " ms";
  return v.toFixed(2) + " ms";
}
function usd(v) {
  if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
  if (v === 0) return "$0";
  return "$" + (v < 0.01 ? v.toPrecision(2) : v.toFixed(4));
}
function num(v) {
  if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
function when(iso) { const d = new Date(iso); return isNaN(d) ? iso : d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0"); }
function bytes(n) { return n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MiB" : (n / 1024).toFixed(0) + " KiB"; }

async function showStore() {
  try {
    const s = await getJson("api/stats");
    const ev = s.evicted_ordinary + s.evicted_expensive + s.evicted_slow + s.evicted_failed;
    document.getElementById("store").textContent =
      `${s.traces} traces · ${bytes(s.bytes)} of ${bytes(s.max_bytes)}` + (ev ? ` · ${ev} evicted` : "");
  } catch (_) { /* the header is a nicety */ }
}

// ---- runs page ----------------------------------------------------------

const FILTERS = ["name", "status", "correlation_id", "min_duration_ms", "q", "limit"];

function runsPage() {
  document.title = "Workflow runs";
  const params = new URLSearchParams(location.search);
  const input = (name, label, extra) => el("label", {}, label,
    el("input", Object.assign({ name, id: "f-" + name, value: params.get(name) || "" }, extra)));
  const status = el("select", { name: "status", id: "f-status" },
    ["", "ok", "error", "cancelled"].map((s) => el("option", { value: s, selected: params.get("status") === s, text: s || "any" })));
  const live = el("input", { type: "checkbox", id: "f-live", checked: true });
  const form = el("form", { class: "filters", id: "filters" },
    input("name", "name"), el("label", {}, "status", status), input("correlation_id", "correlation id"),
    input("min_duration_ms", "min duration (ms)", { inputmode: "decimal", size: 6 }), input("q", "text in spans or logs"),
    input("limit", "limit", { inputmode: "numeric", size: 4, placeholder: "100" }),
    el("button", { type: "submit", text: "filter" }), el("label", { class: "check" }, live, "live"));
  const info = el("p", { class: "muted", id: "runs-info" });
  const body = el("tbody", { id: "runs" });
  const table = el("table", { class: "runs" },
    el("thead", {}, el("tr", {}, ["start", "run", "service", "status", "duration", "correlation id", "spans", "logs", "tokens", "cost"].map((h, i) =>
      el("th", { class: i >= 4 && i !== 5 ? "num" : undefined, text: h })))), body);
  app.replaceChildren(el("h1", { text: "Runs" }), form, info, table);

  let shown = null, query = "", timer = null;
  const read = () => {
    const q = new URLSearchParams();
    for (const f of FILTERS) { const v = form.elements[f].value.trim(); if (v) q.set(f, v); }
    return q.toString();
  };
  async function refresh(force) {
    try {
      const data = await getJson("api/runs" + (query ? "?" + query : ""));
      if (!force && shown === data.version) return;
      shown = data.version;
      render(data);
    } catch (e) {
      info.textContent = "error: " + e.message;
    }
  }
  function render(data) {
    info.textContent = data.matched === 0 ? "" :
      `${data.runs.length} of ${data.matched} matching run${data.matched === 1 ? "" : "s"}, newest first`;
    if (data.runs.length === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "empty",
        text: query ? "No run matches these filters." : "No runs yet: run a workflow and it appears here." })));
      return;
    }
    body.replaceChildren(...data.runs.map((r) => el("tr", { class: "run", "data-trace-id": r.trace_id },
      el("td", { class: "mono", title: r.start, text: when(r.start) }),
      el("td", {}, el("a", { href: "traces/" + r.trace_id, class: "run-link", text: r.name })),
      el("td", { class: "svc", text: r.service || "" }),
      el("td", { class: "status " + r.status, title: r.error || "", text: r.status }),
      el("td", { class: "num", text: ms(r.duration_ms) }),
      el("td", { class: "mono", text: r.correlation_id || "" }),
      el("td", { class: "num", text: r.span_count }),
      el("td", { class: "num", text: r.log_count }),
      el("td", { class: "num", text: num(r.tokens) }),
      el("td", { class: "num", text: usd(r.cost_usd) }))));
  }
  function schedule() {
    clearInterval(timer);
    if (live.checked) timer = setInterval(() => { refresh(false); showStore(); }, POLL_MS);
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    query = read();
    history.replaceState(null, "", query ? "?" + query : location.pathname);
    refresh(true);
  });
  live.addEventListener("change", schedule);
  query = read();
  refresh(true);
  schedule();
}

// ---- trace page ---------------------------------------------------------

// What a workflow primitive did, from its span's attributes.
function badges(a, span) {
  const out = [];
  const b = (text, cls, title) => out.push(el("span", { class: "badge" + (cls ? " " + cls : ""), title, text }));
  if (a["retry.attempt"] !== undefined) b("attempt " + a["retry.attempt"]);
  if (a["retry.attempts"] !== undefined) b(a["retry.attempts"] + " attempts");
  if (a["fallback.role"] !== undefined) b(a["fallback.role"], a["fallback.role"] === "fallback" ? "bad" : "");
  if (a["fallback.used"] === true) b("fallback taken", "bad");
  if (a["router.route"] !== undefined) b("route: " + a["router.route"], "", a["router.reason"] ? "why: " + a["router.reason"] : undefined);
  if (a["router.reason"] !== undefined) b("why: " + a["router.reason"]);
  if (a["switch.case"] !== undefined) b("case: " + a["switch.case"]);
  if (a["condition.branch"] !== undefined) b("branch: " + a["condition.branch"]);
  if (a["cache.hit"] === true) b("cache hit", "good");
  if (a["cache.hit"] === false) b("cache miss");
  if (a["cache.coalesced"] === true) b("coalesced", "good");
  if (a["circuit.state"] !== undefined) b("circuit " + a["circuit.state"], a["circuit.state"] === "open" ? "bad" : "");
  if (a["timeout.outcome"] !== undefined) b("timeout: " + a["timeout.outcome"], a["timeout.outcome"] === "expired" ? "bad" : "");
  if (a["saga.role"] !== undefined) b("saga " + a["saga.role"], a["saga.role"] === "compensation" ? "bad" : "");
  if (a["saga.compensated"] === true) b("compensated", "bad");
  if (a["primitive.cancelled"] === true) b("cancelled", "bad");
  const model = a["gen_ai.response.model"] || a["gen_ai.request.model"] || a["llm.model_name"];
  if (model) b(model, "llm");
  const tokens = a["llm.token_count.total"];
  if (tokens !== undefined) b(num(tokens) + " tokens", "llm");
  if (a["llm.cost.total"] !== undefined) b(usd(a["llm.cost.total"]), "llm");
  if (span.kind !== "internal") b(span.kind);
  if (span.showService) b(span.service, "svc", "the process this span came from");
  if (span.status === "error") b(a["error.type"] || "error", "bad");
  return out;
}

// Spans in tree order, each with its depth; a span whose parent is not in
// the trace (remote, or not arrived) starts a tree of its own.
function treeOrder(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && ids.has(s.parent_span_id)) {
      if (!kids.has(s.parent_span_id)) kids.set(s.parent_span_id, []);
      kids.get(s.parent_span_id).push(s);
    } else roots.push(s);
  }
  // Iterative, depth first: a deep chain must not overflow the stack.
  const out = [];
  const stack = roots.slice().reverse().map((r) => [r, 0]);
  while (stack.length) {
    const [s, depth] = stack.pop();
    out.push([s, depth]);
    const children = kids.get(s.span_id) || [];
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], depth + 1]);
  }
  return out;
}

function valueText(v) { return typeof v === "string" ? v : JSON.stringify(v); }

function detailOf(s) {
  const rows = (obj) => Object.entries(obj).map(([k, v]) => el("tr", {}, el("td", { class: "mono", text: k }), el("td", { class: "mono", text: valueText(v) })));
  const events = s.events.map((e) => {
    const a = e.attributes;
    if (e.name === "exception") {
      return el("div", { class: "event" }, el("b", { text: `exception at ${ms(e.at_ms)}: ` }),
        el("span", { text: [a["exception.type"], a["exception.message"]].filter(Boolean).join(": ") }),
        a["exception.stacktrace"] ? el("pre", { text: a["exception.stacktrace"] }) : null);
    }
    return el("div", { class: "event" }, el("b", { text: `${e.name} at ${ms(e.at_ms)}` }),
      Object.keys(a).length ? el("table", {}, el("tbody", {}, rows(a))) : null);
  });
  return el("div", { id: "span-detail", "data-span-id": s.span_id },
    el("h2", { text: s.name }),
    el("table", {}, el("tbody", {},
      rows({ span_id: s.span_id, parent: s.parent_span_id || "(none)", service: s.service, kind: s.kind, start: s.start, duration: ms(s.duration_ms), status: s.status }),
      s.status_message ? el("tr", {}, el("td", { text: "error" }), el("td", { class: "status error", text: s.status_message })) : null)),
    el("h2", { text: "attributes" }),
    Object.keys(s.attributes).length ? el("table", {}, el("tbody", {}, rows(s.attributes))) : el("p", { class: "muted", text: "none" }),
    s.dropped_attributes ? el("p", { class: "muted", text: `${s.dropped_attributes} attributes dropped (attribute_count_limit)` }) : null,
    events.length ? [el("h2", { text: "events" }), events] : null,
    s.links.length ? [el("h2", { text: "links" }), s.links.map((l) => el("div", { class: "mono", text: `${l.trace_id} / ${l.span_id}` }))] : null);
}

async function tracePage(id) {
  document.title = "Trace " + id;
  let t;
  try {
    t = await getJson("api/traces/" + encodeURIComponent(id));
  } catch (e) {
    app.replaceChildren(el("p", { class: "empty", text: e.message }), el("p", {}, el("a", { href: HOME, text: "back to runs" })));
    return;
  }
  const run = t.run || {};
  document.title = (run.name || "trace") + " · " + (run.correlation_id || id);
  // Spans from other processes say which (one trace across services).
  const services = new Set(t.spans.map((s) => s.service));
  for (const s of t.spans) s.showService = services.size > 1;
  const total = Math.max(t.duration_ms, 0.001);
  const summary = el("div", { class: "summary" },
    el("span", {}, "status ", el("b", { class: "status " + (run.status || ""), id: "run-status", text: run.status || "in progress" })),
    el("span", {}, "duration ", el("b", { text: ms(run.duration_ms ?? t.duration_ms) })),
    run.correlation_id ? el("span", {}, "correlation id ", el("b", { class: "mono", id: "run-correlation", text: run.correlation_id })) : null,
    el("span", {}, "started ", el("b", { text: t.start })),
    el("span", {}, el("b", { text: t.spans.length }), " spans, ", el("b", { text: t.logs.length }), " log lines"),
    services.size > 1 ? el("span", {}, el("b", { id: "run-services", text: services.size }), " services: " + [...services].join(", ")) : null,
    run.tokens !== undefined ? el("span", {}, "tokens ", el("b", { text: num(run.tokens) })) : null,
    run.cost_usd !== undefined ? el("span", {}, "cost ", el("b", { text: usd(run.cost_usd) })) : null,
    el("span", { class: "mono" }, "trace ", el("a", { href: "api/traces/" + id + "/otlp", title: "this trace as OTLP/JSON", text: id })));
  const ticks = el("div", { class: "ticks" }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const s = el("span", { text: ms(total * f) }); s.style.left = (f * 100) + "%"; return s;
  }));
  const detail = el("aside", { class: "detail", id: "detail" });
  const rowsById = new Map();
  const logRows = [];
  function select(spanId, scroll) {
    for (const [sid, row] of rowsById) row.classList.toggle("selected", sid === spanId);
    for (const r of logRows) r.classList.toggle("linked", r.dataset.spanRef === spanId);
    const s = t.spans.find((x) => x.span_id === spanId);
    if (s) detail.replaceChildren(detailOf(s));
    if (scroll && rowsById.has(spanId)) rowsById.get(spanId).scrollIntoView({ block: "nearest" });
  }
  const rows = treeOrder(t.spans).map(([s, depth]) => {
    const bar = el("div", { class: "bar" });
    bar.style.left = (s.start_ms / total * 100) + "%";
    bar.style.width = (s.duration_ms / total * 100) + "%";
    const dur = el("span", { class: "dur", text: ms(s.duration_ms) });
    dur.style.left = Math.min((s.start_ms + s.duration_ms) / total * 100, 88) + "%";
    const label = el("div", { class: "label" },
      el("div", { class: "name" }, el("span", { class: "span-name", text: s.name })),
      el("div", {}, badges(s.attributes, s)),
      s.status_message ? el("div", { class: "err span-error", text: s.status_message }) : null);
    label.style.paddingLeft = (0.4 + depth * 1.1) + "rem";
    const row = el("div", { class: "span-row" + (s.status === "error" ? " error" : ""), "data-span-id": s.span_id,
      onclick: () => select(s.span_id, false) }, label, el("div", { class: "track" }, bar, dur));
    rowsById.set(s.span_id, row);
    return row;
  });
  const names = new Map(t.spans.map((s) => [s.span_id, s.name]));
  const logs = t.logs.map((l) => {
    const fields = Object.keys(l.fields).length ? JSON.stringify(l.fields) : "";
    const r = el("tr", { class: "log", "data-span-ref": l.span_id },
      el("td", { class: "mono num", text: "+" + ms(l.at_ms) }),
      el("td", { class: "mono level-" + l.level, text: l.level }),
      el("td", { class: "log-message", text: l.message }),
      el("td", { class: "mono", text: fields }),
      el("td", {}, names.has(l.span_id)
        ? el("a", { href: "#", class: "span-link", text: names.get(l.span_id), onclick: (ev) => { ev.preventDefault(); select(l.span_id, true); } })
        : el("span", { class: "muted mono", text: l.span_id })));
    logRows.push(r);
    return r;
  });
  app.replaceChildren(
    el("p", {}, el("a", { href: HOME, text: "← runs" })),
    el("h1", { id: "run-name", text: run.name || "trace " + id }), summary,
    el("div", { class: "layout" },
      el("section", { class: "waterfall", id: "waterfall" },
        el("div", { class: "axis" }, el("div", { class: "label muted", text: "span" }), ticks), rows),
      detail),
    el("h2", { text: "log lines" }),
    logs.length
      ? el("table", { class: "logs", id: "logs" }, el("thead", {}, el("tr", {}, ["at", "level", "message", "fields", "span"].map((h) => el("th", { text: h })))), el("tbody", {}, logs))
      : el("p", { class: "muted", id: "logs", text: "No log lines in this trace." }));
  // The innermost failing span: an error span with no failing child.
  const failingParents = new Set(t.spans.filter((c) => c.status === "error" && c.parent_span_id).map((c) => c.parent_span_id));
  const firstError = t.spans.find((s) => s.status === "error" && !failingParents.has(s.span_id));
  const first = firstError || (treeOrder(t.spans)[0] || [])[0];
  if (first) select(first.span_id, false);
}

// ---- metrics page -------------------------------------------------------

function pct(v) { return typeof v === "number" ? (v * 100).toFixed(1) + "%" : ""; }

// Rates between two polls of the same totals.
function rate(now, before, dt) {
  if (!before || !(dt > 0) || typeof now !== "number" || typeof before !== "number") return "";
  const r = Math.max(now - before, 0) / dt;
  return r >= 10 ? r.toFixed(0) + "/s" : r.toFixed(2) + "/s";
}

function table(id, heads, rows, empty) {
  const numeric = (h) => !/^(primitive|type|workflow|model)$/.test(h);
  return rows.length
    ? el("table", { class: "metrics", id }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", { class: numeric(h) ? "num" : undefined, text: h })))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { class: numeric(heads[i]) ? "num" : "mono", text: c }))))))
    : el("p", { class: "muted", id, text: empty });
}

function metricsPage() {
  document.title = "Metrics";
  const info = el("p", { class: "muted", id: "metrics-info" });
  const body = el("div", { id: "metrics" });
  app.replaceChildren(el("h1", { text: "Metrics" }), info, body);
  let prev = null;
  async function refresh() {
    let m;
    try { m = await getJson("api/metrics"); } catch (e) { info.textContent = "error: " + e.message; return; }
    if (!m.enabled) { info.textContent = m.why; body.replaceChildren(); return; }
    const now = performance.now() / 1000;
    const dt = prev ? now - prev.at : 0;
    const before = (list, key, name) => prev && (prev.m[list].find((x) => x[key] === name) || {});
    // The server's window (the last minute) when it has one: percentiles
    // and rates over it; else since the start, and rates between polls.
    const win = m.window;
    const inWindow = (list, key, name) => (win && win[list].find((x) => x[key] === name && (x.calls || x.runs))) || null;
    const perSec = (n) => { const r = n / win.seconds; return r >= 10 ? r.toFixed(0) + "/s" : r.toFixed(2) + "/s"; };
    info.textContent = win
      ? `Percentiles and rates over the last ${win.seconds} s, from the duration histograms /metrics serves; counts since the process started.`
      : "Counts and percentiles since the process started, from the duration histograms /metrics serves; rates between polls" +
        (dt ? ` (${dt.toFixed(1)} s)` : " (shown from the second one)") + ".";
    body.replaceChildren(
      el("h2", { text: "Primitives" }),
      table("metrics-primitives", ["primitive", "type", "calls", "rate", "errors", "error rate", "p50", "p95", "p99"],
        m.primitives.map((p) => {
          const w = inWindow("primitives", "primitive", p.primitive);
          const q = w || p;
          return [p.primitive, p.type, num(p.calls), w ? perSec(w.calls) : rate(p.calls, (before("primitives", "primitive", p.primitive) || {}).calls, dt),
            num(p.errors), q.calls ? pct(q.errors / q.calls) : "", ms(q.p50_ms), ms(q.p95_ms), ms(q.p99_ms)];
        }),
        "No primitive has run yet."),
      el("h2", { text: "Caches" }),
      table("metrics-caches", ["primitive", "hits", "misses", "hit rate"],
        m.caches.map((c) => [c.primitive, num(c.hits), num(c.misses), pct(c.hit_rate)]), "No cache calls yet."),
      el("h2", { text: "Workflows" }),
      table("metrics-workflows", ["workflow", "runs", "rate", "failed", "cost", "cost per run", "p50", "p95"],
        m.workflows.map((w) => {
          const x = inWindow("workflows", "workflow", w.workflow);
          const q = x || w;
          return [w.workflow, num(w.runs), x ? perSec(x.runs) : rate(w.runs, (before("workflows", "workflow", w.workflow) || {}).runs, dt), num(w.errors),
            usd(w.cost_usd), w.runs ? usd(w.cost_usd / w.runs) : "", ms(q.p50_ms), ms(q.p95_ms)];
        }), "No workflow run has ended yet."),
      el("h2", { text: "Models" }),
      table("metrics-models", ["model", "requests", "tokens", "cost"],
        m.models.map((x) => [x.model, num(x.requests), num(x.tokens), usd(x.cost_usd)]), "No LLM calls yet."));
    prev = { at: now, m };
  }
  refresh();
  setInterval(refresh, POLL_MS);
}

// ---- routing ------------------------------------------------------------

const path = location.pathname.slice(base.pathname.length);
const m = /^traces\/([0-9a-f]{32})\/?$/.exec(path);
showStore();
if (m) tracePage(m[1]); else if (/^dashboard\/?$/.test(path)) metricsPage(); else runsPage();
