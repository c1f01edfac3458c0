// maas live status page: polls /ui/api/status (and /v1/usage for a tenant key); plain DOM + inline SVG.
"use strict";
(() => {
  const KEY = "maas.key";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let pollMs = 2000;
  let timer = null;
  let chosenSite = null;

  function el(tag, attrs, ...children) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }
  const fmt = (v, digits = 1, unit = "") => (v === null || v === undefined) ? "–" : `${Number(v).toFixed(digits)}${unit}`;
  const fmtInt = (v) => (v === null || v === undefined) ? "–" : Math.round(v).toLocaleString("en-US");
  const sig = (v, unit) => (v === null || v === undefined) ? "–" : `${Number(v).toPrecision(3)} ${unit}`;
  function mass(g) {  // grams with a readable unit
    if (g === null || g === undefined) return "–";
    if (g >= 1) return sig(g, "g");
    if (g >= 1e-3) return sig(g * 1e3, "mg");
    return g > 0 ? sig(g * 1e6, "µg") : "0 g";
  }
  const hhmm = (t_s) => new Date(t_s * 1000).toISOString().slice(11, 16);

  function headers() {
    const key = sessionStorage.getItem(KEY);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }
  function banner(text, info = false) {
    const b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
    b.className = info ? "banner info" : "banner";
  }
  function stat(k, v, id) {
    const attrs = id ? { id, class: "v", text: v } : { class: "v", text: v };
    return el("div", { class: "stat" }, el("div", attrs), el("div", { class: "k", text: k }));
  }

  function renderTiers(doc) {
    const box = $("tiers");
    box.replaceChildren();
    for (const t of doc.tiers) {
      const card = el("div", { class: t.available ? "tier" : "tier down", "data-tier": t.tier });
      card.append(
        el("div", { class: "head" }, el("span", { class: "name", text: t.tier }),
          el("span", { class: "badge", text: t.available ? "available" : "unavailable" })),
        el("div", { class: "reason", text: t.available ? "" : (t.reason || "unavailable") }),
        el("div", { class: "device", text: t.device ? `${t.device}${t.rtt_ms !== null ? ` · RTT ${fmt(t.rtt_ms)} ms` : ""}` : "" }),
        el("div", { class: "share", title: "share of served requests, last 5 min" },
          el("div", { style: `width:${(100 * t.share).toFixed(1)}%` })),
      );
      const grid = el("div", { class: "grid" });
      const rows = [
        ["share", fmt(100 * t.share, 1, " %")], ["requests", fmtInt(t.requests)],
        ["p50", fmt(t.p50_ms, 1, " ms")], ["p99", fmt(t.p99_ms, 1, " ms")],
        ["J / req", sig(t.energy_j_per_request, "J")], ["CO2 / req", mass(t.carbon_g_per_request)],
        ["queue", fmtInt(t.queue_depth)], ["in flight", fmtInt(t.in_flight)],
      ];
      for (const [k, v] of rows) {
        grid.append(el("div", {}, el("span", { text: k }), el("span", { class: `v-${k.replace(/[^a-z0-9]/g, "")}`, text: v })));
      }
      const hop = t.hop === "in-process" ? "runs beside the gateway (one hop)" : "runs over Ray (its own replica)";
      card.append(grid, el("div", { class: "device tier-hop", text: hop }),
        el("div", { class: "device tier-total" , text: `${fmtInt(t.requests_total)} served since start` }));
      box.append(card);
    }
  }

  function renderTimeline(sat) {
    const svg = $("timeline");
    svg.replaceChildren();
    const o = sat && sat.outlook;
    if (!o) {
      svg.append(el("svg:text", { x: 10, y: 20, text: "this site does not reach the satellite tier" }));
      return;
    }
    const W = 1000, x = (t) => ((t - o.start_s) / (o.end_s - o.start_s)) * W;
    for (let t = Math.ceil(o.start_s / 3600) * 3600; t <= o.end_s; t += 3600) {
      svg.append(el("svg:line", { x1: x(t), x2: x(t), y1: 0, y2: 172, stroke: "#e2e8f0" }),
        el("svg:text", { x: x(t) + 3, y: 186, text: `${hhmm(t)} UTC` }));
    }
    svg.append(el("svg:text", { x: 2, y: 12, text: "contact" }), el("svg:text", { x: 2, y: 56, text: "eclipse" }),
      el("svg:text", { x: 2, y: 92, text: "battery" }));
    o.windows.forEach((w, i) => {
      const r = el("svg:rect", { x: x(w.start_s), y: 16, width: Math.max(1, x(w.end_s) - x(w.start_s)), height: 22,
        fill: i % 2 ? "#90cdf4" : "#4299e1" });
      r.append(el("svg:title", { text: `${w.satellite} ${w.start} – ${w.end}` }));
      svg.append(r);
      if (x(w.end_s) - x(w.start_s) > 70) {
        svg.append(el("svg:text", { x: x(w.start_s) + 3, y: 31, fill: "#fff", style: "fill:#1a365d", text: w.satellite }));
      }
    });
    for (const e of o.eclipses) {
      const r = el("svg:rect", { x: x(e.start_s), y: 60, width: Math.max(1, x(e.end_s) - x(e.start_s)), height: 12,
        fill: "#2d3748", opacity: 0.8 });
      r.append(el("svg:title", { text: `${e.satellite} in eclipse ${e.start} – ${e.end}` }));
      svg.append(r);
    }
    if (o.battery.length && o.capacity_j) {
      const socs = o.battery.map((p) => p.soc_j);
      const lo = Math.max(0, Math.min(o.reserve_j, ...socs) - 0.05 * o.capacity_j);
      const y = (soc) => 168 - ((soc - lo) / (o.capacity_j - lo)) * 70;
      svg.append(el("svg:text", { x: W - 4, y: 96, "text-anchor": "end", text: `${fmtInt(o.capacity_j)} J` }),
        el("svg:text", { x: W - 4, y: y(o.reserve_j) - 3, "text-anchor": "end", text: `reserve ${fmtInt(o.reserve_j)} J` }));
      svg.append(el("svg:line", { x1: 0, x2: W, y1: y(o.reserve_j), y2: y(o.reserve_j), stroke: "#c53030",
        "stroke-dasharray": "6 4" }));
      const pts = o.battery.map((p) => `${x(p.t_s).toFixed(1)},${y(p.soc_j).toFixed(1)}`).join(" ");
      svg.append(el("svg:polyline", { points: pts, fill: "none", stroke: "#d69e2e", "stroke-width": 2.5 }));
    }
  }

  function renderSatNow(sat) {
    const n = sat && sat.now;
    let text = "no satellite access";
    if (n && n.in_contact) {
      text = `serving: ${n.satellite} until ${n.window_end.slice(11, 19)} UTC · battery ${fmt(100 * n.soc_ratio, 1)} % ` +
        `(${fmtInt(n.soc_j)} J, reserve ${fmtInt(n.reserve_j)} J)`;
    } else if (n) {
      text = `no contact${n.next_contact ? ` until ${n.next_contact}` : " today"}`;
    }
    $("sat-now").textContent = text;
  }

  function renderSites(doc) {
    const sel = $("site");
    if (sel.options.length !== doc.sites.length) {
      sel.replaceChildren(...doc.sites.map((s) => el("option", { value: s, text: s })));
    }
    sel.value = doc.site;
  }

  function renderDeployments(doc) {
    const body = $("deployments").querySelector("tbody");
    body.replaceChildren(...doc.deployments.map((d) => el("tr", {},
      el("td", { text: d.name }), el("td", { text: d.version }), el("td", { text: d.task || "" }),
      el("td", { text: d.tiers.length ? d.tiers.join(", ") : "none" }))));
  }

  const bytes = (n) => n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
  function track(t) {  // "v2 on ground, satellite (1 of 2 ready)"
    if (!t) return "–";
    const ready = t.ready.length === t.tiers.length ? "" : ` (${t.ready.length} of ${t.tiers.length} ready)`;
    return `v${t.version} on ${t.tiers.join(", ")}${ready}`;
  }
  function uplinkText(u) {
    const pct = u.bytes_total ? (100 * u.bytes_sent / u.bytes_total).toFixed(0) : "100";
    const eta = u.state === "uplinking" && u.eta_s !== null ? `, ETA ${new Date(u.eta_s * 1000).toISOString().slice(11, 19)}Z` : "";
    return `v${u.version} ${u.tier}: ${u.state} ${bytes(u.bytes_sent)} of ${bytes(u.bytes_total)} (${pct} %)${eta}`;
  }
  function renderRollouts(doc) {
    const body = $("rollouts").querySelector("tbody");
    body.replaceChildren(...(doc.rollouts || []).map((r) => el("tr", { "data-model": r.model },
      el("td", { text: r.model }), el("td", { text: track(r.stable) }),
      el("td", { text: r.canary ? `${track(r.canary)} · ${r.percent === null ? "takeover" : r.percent + " %"}` : "–" }),
      el("td", { text: r.auto_rollback ? "on" : "off" }),
      el("td", { text: r.uplinks.length ? r.uplinks.map(uplinkText).join("; ") : "–" }))));
  }

  function render(doc) {
    $("admin-view").hidden = false;
    $("tenant-view").hidden = true;
    const t = doc.totals;
    $("totals").replaceChildren(
      stat("requests (all)", fmtInt(t.requests), "total-requests"), stat("served", fmtInt(t.served)),
      stat("failed", fmtInt(t.failures)), stat("refused", fmtInt(t.refusals)),
      stat("energy", sig(t.energy_j, "J")), stat("carbon", mass(t.carbon_g)),
      stat("served, window", fmtInt(t.window_requests)));
    const w = doc.window_s >= 299 ? "last 5 min" : `last ${Math.round(doc.window_s)} s (since start)`;
    $("window-hint").textContent = `${w}: request share, latency, energy and carbon per request; queue now`;
    renderTiers(doc);
    renderSites(doc);
    renderSatNow(doc.satellite);
    renderTimeline(doc.satellite);
    renderDeployments(doc);
    renderRollouts(doc);
    $("meta").textContent = `${doc.time} · ${doc.replicas} gateway replica(s) · ${doc.role === "open" ? "auth off" : "admin"}`;
  }

  async function renderTenant(doc) {
    const r = await fetch("/v1/usage?group_by=none", { headers: headers() });
    const u = await r.json();
    if (!r.ok) { banner(u.error || `usage: HTTP ${r.status}`); return; }
    $("admin-view").hidden = true;
    $("tenant-view").hidden = false;
    $("tenant-name").textContent = doc.tenant;
    const c = u.current || {};
    $("tenant-current").replaceChildren(
      stat("requests today", fmtInt(c.day_requests), "total-requests"), stat("energy today", fmt(c.day_energy_j, 2, " J")),
      stat("requests this month", fmtInt(c.month_requests)), stat("carbon this month", fmt(c.month_carbon_g, 3, " g")));
    const rem = Object.entries(u.remaining || {});
    $("tenant-remaining").replaceChildren(...(rem.length ? rem.map(([k, v]) => stat(k.replaceAll("_", " "),
      v === null ? "unlimited" : (typeof v === "number" ? fmt(v, Number.isInteger(v) ? 0 : 2) : String(v)))) :
      [stat("quota", "unlimited")]));
    $("meta").textContent = `tenant ${doc.tenant} · own usage only`;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const q = chosenSite ? `?site=${encodeURIComponent(chosenSite)}` : "";
      const r = await fetch(`/ui/api/status${q}`, { headers: headers() });
      const doc = await r.json();
      if (!r.ok) {
        banner(r.status === 401 ? `key refused: ${doc.error}` : (doc.error || `HTTP ${r.status}`));
      } else if (doc.need_key) {
        $("admin-view").hidden = true; $("tenant-view").hidden = true;
        banner("API keys are on: enter an admin key (everything) or a tenant key (own usage).", true);
        $("meta").textContent = "no key";
      } else {
        banner("");
        pollMs = 1000 * (doc.poll_s || 2);
        if (doc.role === "tenant") await renderTenant(doc); else render(doc);
      }
    } catch (err) {
      banner(`cannot reach the platform: ${err}`);
    }
    timer = setTimeout(poll, pollMs);
  }

  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("key").value.trim();
    if (v) sessionStorage.setItem(KEY, v);
    $("key").value = "";
    poll();
  });
  $("key-clear").addEventListener("click", () => { sessionStorage.removeItem(KEY); poll(); });
  $("site").addEventListener("change", (ev) => { chosenSite = ev.target.value; poll(); });
  poll();
})();
