// The status page: one self-contained document (no CDN, no external fonts)
// that polls /api/status and draws with <canvas> and inline SVG.
#include "groupwatch/admin/status_page.hpp"

namespace groupwatch::admin {

namespace {

constexpr std::string_view kPage = R"GWHTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>groupwatch status</title>
<style>
:root {
  --bg: #f4f6fa; --card: #ffffff; --fg: #18202c; --muted: #667085; --line: #e4e8ee; --grid: #eef1f5;
  --accent: #3366ee; --accent-fill: rgba(51, 102, 238, .14); --ok: #16a34a; --warn: #d97706; --bad: #dc2626;
  --cap: #98a2b3; --chip: #eef2f7; --shadow: 0 1px 2px rgba(16, 24, 40, .06), 0 1px 3px rgba(16, 24, 40, .08);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8b949e; --line: #262d36; --grid: #1f262e;
    --accent: #6e9bff; --accent-fill: rgba(110, 155, 255, .16); --ok: #3fb950; --warn: #e3b341; --bad: #f85149;
    --cap: #6e7681; --chip: #21262d; --shadow: none;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: 10px 16px; padding: 14px 20px;
  background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2;
}
header h1 { font-size: 17px; margin: 0; font-weight: 650; letter-spacing: -.01em; display: flex; align-items: center; gap: 8px; }
.logo { width: 22px; height: 22px; border-radius: 6px; background: linear-gradient(135deg, var(--accent), #8b5cf6); display: inline-block; }
.meta { color: var(--muted); font-size: 12.5px; display: flex; gap: 14px; flex-wrap: wrap; }
.spacer { flex: 1; }
main { max-width: 1240px; margin: 0 auto; padding: 18px 16px 40px; display: grid; gap: 16px; }
.grid2 { display: grid; gap: 16px; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); }
@media (max-width: 900px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; box-shadow: var(--shadow); padding: 16px; min-width: 0; }
.card h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 12px; font-weight: 600; }
.apphead { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; margin-bottom: 12px; }
.apphead h3 { margin: 0; font-size: 18px; font-weight: 650; }
.apphead .id { color: var(--muted); font-size: 12.5px; font-variant-numeric: tabular-nums; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--chip); }
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.pill.ok { color: var(--ok); } .pill.warn { color: var(--warn); } .pill.bad { color: var(--bad); }
.progress { height: 10px; border-radius: 999px; background: var(--chip); overflow: hidden; }
.progress > div { height: 100%; border-radius: 999px; background: linear-gradient(90deg, var(--accent), #8b5cf6); transition: width .6s ease; }
.progline { display: flex; justify-content: space-between; font-size: 12.5px; color: var(--muted); margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(108px, 1fr)); gap: 10px; margin-bottom: 14px; }
.stat { background: var(--chip); border-radius: 10px; padding: 8px 10px; }
.stat .v { font-size: 18px; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .l { font-size: 11.5px; color: var(--muted); }
.appbody { display: grid; gap: 18px; grid-template-columns: minmax(0, 1.6fr) minmax(0, 1fr); }
@media (max-width: 760px) { .appbody { grid-template-columns: minmax(0, 1fr); } }
.chartbox { position: relative; }
canvas.chart { width: 100%; height: 210px; display: block; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 14px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 5px; }
.legend i.dash { background: repeating-linear-gradient(90deg, var(--cap) 0 4px, transparent 4px 7px); }
.sub { font-size: 12px; color: var(--muted); margin: 0 0 8px; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; }
.outbar { display: flex; height: 12px; border-radius: 999px; overflow: hidden; background: var(--chip); margin-bottom: 10px; }
.outbar > div { height: 100%; }
.outlist { list-style: none; margin: 0; padding: 0; display: grid; gap: 4px; font-size: 13px; }
.outlist li { display: flex; align-items: center; gap: 8px; }
.outlist .sw { width: 10px; height: 10px; border-radius: 3px; flex: none; }
.outlist .n { margin-left: auto; font-variant-numeric: tabular-nums; }
.outlist .pct { color: var(--muted); width: 52px; text-align: right; font-variant-numeric: tabular-nums; }
.tablewrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.gid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: nowrap; }
td.rank { color: var(--muted); width: 28px; }
.spark { display: block; }
.empty { color: var(--muted); font-size: 13px; padding: 10px 2px; }
.err { color: var(--bad); font-size: 12px; word-break: break-word; }
.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--chip); padding: 1px 6px; border-radius: 6px; font-size: 12px; }
#banner { display: none; background: var(--bad); color: #fff; padding: 8px 20px; font-size: 13px; white-space: pre-line; }
#alerts { display: none; border-left: 4px solid var(--bad); }
#alerts.warn { border-left-color: var(--warn); }
#alerts ul { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px; font-size: 13.5px; }
#alerts li { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
#alerts li .what { font-weight: 600; }
#alerts li .detail { color: var(--muted); word-break: break-word; }
@media (max-width: 520px) {
  header { padding: 12px 14px; } main { padding: 12px 10px 30px; gap: 12px; } .card { padding: 12px; border-radius: 10px; }
  .stat .v { font-size: 16px; } canvas.chart { height: 180px; } .hide-sm { display: none; }
  td.gid { white-space: normal; word-break: break-all; }
}
</style>
</head>
<body>
<header>
  <h1><span class="logo"></span>groupwatch</h1>
  <span id="ready" class="pill">loading</span>
  <span class="spacer"></span>
  <div class="meta"><span id="version"></span><span id="uptime"></span><span id="updated"></span></div>
</header>
<div id="banner"></div>
<main>
  <section id="alerts" class="card" aria-live="polite"><h2>Needs attention</h2><ul></ul></section>
  <div id="apps"></div>
  <div class="grid2">
    <section class="card"><h2>Top groups by online members</h2><div class="tablewrap"><table id="top"></table></div></section>
    <section class="card"><h2>Parked groups</h2><div class="tablewrap"><table id="parked"></table></div></section>
  </div>
  <section class="card"><h2>Sinks</h2><div class="tablewrap"><table id="sinks"></table></div></section>
  <section id="cluster" class="card" style="display:none"><h2>Cluster</h2><p id="cluster-line"></p><div class="tablewrap"><table id="cluster-apps"></table></div></section>
</main>
<script>
"use strict";
const REFRESH_MS = 3000;
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs) { const e = document.createElementNS(svgNS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; }
const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
function fmtNum(n, d = 1) { if (!isFinite(n)) return "–"; return Math.abs(n) >= 100 ? fmtInt(n) : n.toFixed(d).replace(/\.0$/, ""); }
function fmtBytes(b) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; } return (i ? b.toFixed(1) : b) + " " + u[i]; }
function fmtDur(s) {
  s = Math.max(0, Math.floor(s)); const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + "d " + hh + "h"; if (hh) return hh + "h " + m + "m"; if (m) return m + "m " + (s % 60) + "s"; return s + "s";
}
function fmtPct(p) { return (p >= 99.95 || p <= 0 ? p.toFixed(0) : p < 10 ? p.toFixed(1) : p >= 99 ? p.toFixed(1) : p.toFixed(0)) + "%"; }
function ago(iso) { const t = Date.parse(iso); return isFinite(t) ? fmtDur((Date.now() - t) / 1000) + " ago" : iso; }
const outcomeLabel = { ok: "OK", timeout: "timeout", reset: "connection reset", tls: "TLS failure", connect: "connect failure", invalid_answer: "invalid answer" };
function outcomeColor(k, i) {
  if (k === "ok") return css("--ok");
  if (/^\d+$/.test(k)) return ["#dc2626", "#a855f7", "#db2777", "#7c3aed", "#be123c"][i % 5];
  return ["#d97706", "#ea580c", "#ca8a04", "#0891b2", "#64748b"][i % 5];
}

function drawChart(canvas, hist) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, ht = canvas.clientHeight || 210;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(ht * dpr);
  const g = canvas.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, w, ht);
  const t = hist.t || [], n = t.length;
  const L = 44, R = 10, T = 10, B = 24, pw = w - L - R, ph = ht - T - B;
  const maxY = Math.max(1, ...(hist.cap || []), ...(hist.rate || [])) * 1.12;
  const t1 = n ? t[n - 1] : Date.now() / 1000, t0 = Math.min(n ? t[0] : t1, t1 - 10);
  const x = (v) => L + (v - t0) / Math.max(1, t1 - t0) * pw, y = (v) => T + ph - v / maxY * ph;
  g.font = "11px system-ui, sans-serif"; g.fillStyle = css("--muted"); g.strokeStyle = css("--grid"); g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const v = maxY / 1.12 * i / 4, yy = Math.round(y(v)) + .5;
    g.beginPath(); g.moveTo(L, yy); g.lineTo(w - R, yy); g.stroke(); g.fillText(fmtNum(v, 0), L - 6, yy);
  }
  g.textAlign = "center"; g.textBaseline = "top";
  const span = t1 - t0, step = [5, 10, 15, 30, 60, 120, 300].find((st) => span / st <= 6) || 300;
  for (let v = Math.ceil(t0 / step) * step; v <= t1; v += step) {
    const label = new Date(v * 1000).toTimeString().slice(0, step < 60 ? 8 : 5), half = g.measureText(label).width / 2;
    g.fillText(label, Math.min(Math.max(x(v), L + half), w - R - half), T + ph + 6);
  }
  if (!n) { canvas.dataset.drawn = "0"; g.fillText("collecting samples…", L + pw / 2, T + ph / 2); return 0; }
  const line = (vals, color, width, dash) => {
    g.save(); g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash || []); g.lineJoin = "round"; g.beginPath();
    vals.forEach((v, i) => (i ? g.lineTo(x(t[i]), y(v)) : g.moveTo(x(t[i]), y(v)))); g.stroke(); g.restore();
  };
  // request rate: filled area under the line
  g.beginPath(); g.moveTo(x(t[0]), y(0)); hist.rate.forEach((v, i) => g.lineTo(x(t[i]), y(v))); g.lineTo(x(t[n - 1]), y(0));
  g.closePath(); g.fillStyle = css("--accent-fill"); g.fill();
  line(hist.cap, css("--cap"), 1.5, [5, 4]);
  if (hist.effective.some((v, i) => Math.abs(v - hist.cap[i]) > 0.01)) line(hist.effective, css("--warn"), 1.5, [2, 3]);
  line(hist.rate, css("--accent"), 2);
  if (hist.err.some((v) => v > 0)) line(hist.err, css("--bad"), 1.5);
  g.fillStyle = css("--accent"); g.beginPath(); g.arc(x(t[n - 1]), y(hist.rate[n - 1]), 3, 0, 7); g.fill();
  canvas.dataset.drawn = String(n);
  return n;
}

function sparkline(vals) {
  const W = 110, H = 26, P = 3, svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "spark", role: "img" });
  if (!vals.length) return svg;
  const lo = Math.min(...vals), hi = Math.max(...vals), r = hi - lo;
  const yOf = (v) => (r ? H - P - (v - lo) / r * (H - 2 * P) : H / 2);
  const pts = vals.map((v, i) => [vals.length === 1 ? W - P : P + i * (W - 2 * P) / (vals.length - 1), yOf(v)]);
  const d = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
  svg.append(s("path", { d: d + ` L${pts[pts.length - 1][0].toFixed(1)} ${H} L${pts[0][0].toFixed(1)} ${H} Z`, fill: css("--accent-fill"), stroke: "none" }));
  svg.append(s("path", { d, fill: "none", stroke: css("--accent"), "stroke-width": "1.6", "stroke-linejoin": "round", "stroke-linecap": "round" }));
  const last = pts[pts.length - 1]; svg.append(s("circle", { cx: last[0], cy: last[1], r: 2.4, fill: css("--accent") }));
  const title = s("title", {}); title.textContent = vals.map(fmtInt).join(" → "); svg.append(title);
  return svg;
}

function appCard(a) {
  const pct = a.groups ? Math.min(100, a.cycle_dispatched / a.groups * 100) : 0;
  const h0 = a.history, last = h0.rate.length ? h0.rate[h0.rate.length - 1] : 0;
  const state = a.stopped ? ["bad", "stopped"] : a.paused ? ["warn", "paused"] : a.qps_effective < a.qps_cap - 0.01 ? ["warn", "slowed down"] : ["ok", "polling"];
  const slowed = h0.effective.some((v, i) => Math.abs(v - h0.cap[i]) > 0.01);
  const stat = (v, l) => h("div", { class: "stat" }, h("div", { class: "v" }, v), h("div", { class: "l" }, l));
  const canvas = h("canvas", { class: "chart", "data-app": a.name, "aria-label": "request rate against the cap" });
  const outs = Object.entries(a.outcomes).sort((p, q) => (p[0] === "ok" ? -1 : q[0] === "ok" ? 1 : q[1] - p[1]));
  const total = outs.reduce((n, [, v]) => n + v, 0);
  // The OK share is the breakdown's own: every answer, retried ones included.
  const okShare = total ? fmtPct((a.outcomes.ok || 0) / total * 100) : "–";
  const bar = h("div", { class: "outbar" }), list = h("ul", { class: "outlist" });
  outs.forEach(([k, v], i) => {
    const c = outcomeColor(k, i), p = total ? v / total * 100 : 0;
    bar.append(h("div", { style: `width:${p}%;background:${c}`, title: `${k}: ${v}` }));
    list.append(h("li", {}, h("span", { class: "sw", style: `background:${c}` }),
      /^\d+$/.test(k) ? h("span", {}, "ErrorCode ", h("span", { class: "code" }, k)) : h("span", {}, outcomeLabel[k] || k.replace(/_/g, " ")),
      h("span", { class: "n" }, fmtInt(v)), h("span", { class: "pct" }, fmtPct(p))));
  });
  if (!outs.length) list.append(h("li", { class: "empty" }, "no answers yet"));
  const card = h("section", { class: "card app" },
    h("div", { class: "apphead" }, h("h3", {}, a.name), h("span", { class: "id" }, "SDKAppID " + a.sdkappid),
      h("span", { class: "pill " + state[0] }, state[1]), a.stopped && a.stop_reason ? h("span", { class: "err" }, a.stop_reason) : null),
    h("div", { class: "progress", role: "progressbar", "aria-valuenow": pct.toFixed(0), "aria-valuemin": "0", "aria-valuemax": "100" },
      h("div", { style: `width:${pct}%` })),
    h("div", { class: "progline" }, h("span", {}, `this cycle: ${fmtInt(a.cycle_dispatched)} of ${fmtInt(a.groups)} groups started`), h("span", {}, pct.toFixed(1) + "%")),
    h("div", { class: "stats" },
      stat(fmtNum(last), "req/s now"), stat(fmtNum(a.qps_effective) + " / " + fmtNum(a.qps_cap), "allowed / cap"),
      stat(fmtInt(a.results), "results"), stat(okShare, "answers OK"),
      stat(fmtInt(a.retries), "retries"), stat(fmtInt(a.rate_limited), "rate limited"), stat(fmtInt(a.overruns), "cycles overran"),
      stat(fmtDur(a.fresh_p99_s) + " · " + fmtDur(a.fresh_max_s), "count age p99 · max"),
      stat(fmtInt(a.parked), "parked"), stat(fmtInt(a.in_flight) + " · " + fmtInt(a.connections_open), "in flight · conns")),
    h("div", { class: "appbody" },
      h("div", {}, h("p", { class: "sub" }, "Request rate vs cap, last 15 min"), h("div", { class: "chartbox" }, canvas),
        h("div", { class: "legend" }, h("span", {}, h("i", { style: "background:var(--accent)" }), "requests/s"),
          h("span", {}, h("i", { class: "dash" }), "cap"),
          slowed ? h("span", {}, h("i", { style: "background:var(--warn)" }), "allowed (after 429s)") : null,
          h("span", {}, h("i", { style: "background:var(--bad)" }), "errors/s"))),
      h("div", {}, h("p", { class: "sub" }, "Answers by outcome"), bar, list)));
  return [card, canvas, a.history];
}

function table(el, head, rows, empty) {
  el.replaceChildren();
  if (!rows.length) { el.append(h("tbody", {}, h("tr", {}, h("td", { class: "empty", colspan: head.length }, empty)))); return; }
  el.append(h("thead", {}, h("tr", {}, head.map(([t, c]) => h("th", { class: c }, t)))), h("tbody", {}, rows));
}

// Everything degraded, worst first, at the top of the page: stopped apps,
// failing sinks, throttled apps, overrunning cycles.
function alerts(d) {
  const out = [];
  for (const a of d.apps) {
    if (a.stopped) out.push(["bad", `app ${a.name} stopped`, a.stop_reason]);
  }
  for (const k of d.sinks) {
    if (!k.healthy) out.push(["bad", `sink ${k.name} failing for ${fmtDur(k.failing_s)}`, `${fmtInt(k.spooled)} results spooled; ${k.last_error}`]);
  }
  for (const a of d.apps) {
    if (!a.stopped && a.qps_effective < a.qps_cap - 0.01)
      out.push(["warn", `app ${a.name} throttled`, `the vendor answered ${fmtInt(a.rate_limited)} rate-limit errors: allowed ${fmtNum(a.qps_effective)} of ${fmtNum(a.qps_cap)} qps`]);
    if (a.paused) out.push(["warn", `app ${a.name} paused`, "after repeated signature errors; it resumes by itself"]);
    if (a.overruns > 0) out.push(["warn", `app ${a.name}: ${fmtInt(a.overruns)} cycle${a.overruns > 1 ? "s" : ""} overran`, "a cycle began before the previous one was dispatched; see the cycle.overrun log line for the cause"]);
  }
  return out;
}

// With cluster: this instance, etcd, the members, and who polls each SDKAppID.
function renderCluster(c) {
  const card = document.getElementById("cluster");
  card.style.display = c ? "block" : "none";
  if (!c) return;
  document.getElementById("cluster-line").replaceChildren(
    h("span", { class: "pill " + (c.etcd === "ok" ? "ok" : "bad") }, "etcd " + c.etcd),
    " instance " + c.name + " · lease renewed " + c.lease_age_s.toFixed(1) + " s ago · " +
      c.renew_failures + " renewals failed · members: " + (c.members.join(", ") || "none seen"));
  const rows = c.apps.map((a) => h("tr", {}, h("td", {}, String(a.sdkappid)),
    h("td", {}, a.held ? "this instance" : (a.holder || "nobody")),
    h("td", { class: "n" }, String(a.acquired)), h("td", { class: "n" }, String(a.released)),
    h("td", { class: "n" }, String(a.lost))));
  document.getElementById("cluster-apps").replaceChildren(
    h("tr", {}, h("th", {}, "SDKAppID"), h("th", {}, "polled by"), h("th", {}, "taken"), h("th", {}, "given back"),
      h("th", {}, "lost")), ...rows);
}

let lastData = null;
function render(d) {
  lastData = d;
  const ready = document.getElementById("ready");
  ready.className = "pill " + (d.ready ? "ok" : "bad"); ready.textContent = d.ready ? "ready" : "not ready";
  ready.title = d.ready_reason || "";
  document.getElementById("version").textContent = "v" + d.version;
  document.getElementById("uptime").textContent = "up " + fmtDur(d.uptime_s);
  document.getElementById("updated").textContent = "updated " + new Date(d.time * 1000).toLocaleTimeString();
  const banner = document.getElementById("banner");
  banner.style.display = d.ready ? "none" : "block"; banner.textContent = d.ready ? "" : "Not ready: " + d.ready_reason;
  const list = alerts(d), box = document.getElementById("alerts");
  box.style.display = list.length ? "block" : "none";
  box.className = "card" + (list.some(([lvl]) => lvl === "bad") ? "" : " warn");
  box.querySelector("ul").replaceChildren(...list.map(([lvl, what, detail]) =>
    h("li", { class: lvl }, h("span", { class: "pill " + lvl }, lvl === "bad" ? "failing" : "degraded"), h("span", { class: "what" }, what), h("span", { class: "detail" }, detail))));
  if (d.ready && list.length) { ready.className = "pill warn"; ready.textContent = "ready, degraded"; }
  renderCluster(d.cluster);
  const apps = document.getElementById("apps"); apps.replaceChildren();
  apps.style.cssText = "display:grid;gap:16px";
  const charts = d.apps.map(appCard);
  charts.forEach(([card]) => apps.append(card));
  charts.forEach(([, canvas, hist]) => drawChart(canvas, hist));
  const multi = d.apps.length > 1;
  // A group shows by its name when it has one, its ID on hover.
  const groupCell = (g) => g.group_name ? h("td", { class: "gname", title: g.group_id }, g.group_name) : h("td", { class: "gid" }, g.group_id);
  table(document.getElementById("top"), [["#", "rank"], ["Group", ""], multi ? ["App", "hide-sm"] : null, ["Online", "num"], ["Last cycles", "hide-sm"]].filter(Boolean),
    d.top.map((g, i) => h("tr", {}, h("td", { class: "rank" }, i + 1), groupCell(g), multi ? h("td", { class: "hide-sm" }, g.app) : null,
      h("td", { class: "num" }, fmtInt(g.count)), h("td", { class: "hide-sm" }, sparkline(g.history)))),
    "No counts yet.");
  table(document.getElementById("parked"), [["Group", ""], multi ? ["App", "hide-sm"] : null, ["Code", ""], ["Reason", ""], ["Since", "num"]].filter(Boolean),
    d.parked.map((p) => h("tr", {}, groupCell(p), multi ? h("td", { class: "hide-sm" }, p.app) : null, h("td", {}, h("span", { class: "code" }, p.code)),
      h("td", {}, p.reason), h("td", { class: "num", title: p.time }, ago(p.time)))),
    "No parked groups: every watched group answers.");
  table(document.getElementById("sinks"), [["Sink", ""], ["Health", ""], ["Queue", "num"], ["Spool", "num"], ["Delivered", "num"], ["Dropped", "num"], ["Failures", "num"], ["Last error", "hide-sm"]],
    d.sinks.map((k) => h("tr", {}, h("td", {}, h("b", {}, k.name), " ", h("span", { class: "id" }, k.type === k.name ? "" : k.type)),
      h("td", {}, h("span", { class: "pill " + (k.healthy ? "ok" : "bad") }, k.healthy ? "healthy" : "failing " + fmtDur(k.failing_s))),
      h("td", { class: "num" }, fmtInt(k.queue_depth)), h("td", { class: "num" }, fmtBytes(k.spool_bytes)), h("td", { class: "num" }, fmtInt(k.delivered)),
      h("td", { class: "num" }, fmtInt(k.dropped)), h("td", { class: "num" }, fmtInt(k.failures)), h("td", { class: "err hide-sm" }, k.healthy ? "" : k.last_error))),
    "No sinks configured.");
}

async function refresh() {
  try {
    const r = await fetch("/api/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    const banner = document.getElementById("banner");
    banner.style.display = "block"; banner.textContent = "Cannot reach groupwatch: " + e.message + " (retrying)";
    const ready = document.getElementById("ready"); ready.className = "pill warn"; ready.textContent = "offline";
  }
  setTimeout(refresh, REFRESH_MS);
}
let resizeTimer = 0;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => lastData && render(lastData), 150); });
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => lastData && render(lastData));
refresh();
</script>
</body>
</html>
)GWHTML";

}  // namespace

std::string_view status_page_html() {
  return kPage;
}

}  // namespace groupwatch::admin
