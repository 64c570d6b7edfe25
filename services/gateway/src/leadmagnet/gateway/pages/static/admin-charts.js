// Inline SVG charts for the admin console: no library, no CDN. Everything is built with DOM
// calls (createElementNS, textContent): no markup is ever parsed from data. Colours come from
// CSS classes (series-0…series-7 in site.css), so the strict CSP needs no inline styles.
(() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const SERIES = 8;

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  // Micro-dollars as an exact dollar string (integer arithmetic, 6 decimals, as the API).
  function usd(micros) {
    const m = Math.max(0, Math.round(micros));
    return `$${Math.floor(m / 1e6)}.${String(m % 1e6).padStart(6, "0")}`;
  }

  // Axis labels: the same, without trailing zeros ($0.00025, $0.0005, $0.001).
  function usdAxis(micros) {
    return usd(micros).replace(/0+$/, "").replace(/\.$/, "");
  }

  // A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least the value.
  function niceCeil(value) {
    if (value <= 0) return 1;
    const pow = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) if (step * pow >= value) return step * pow;
    return 10 * pow;
  }

  function daysBetween(since, count) {
    const out = [];
    const start = Date.parse(`${since}T00:00:00Z`);
    for (let i = 0; i < count; i += 1) out.push(new Date(start + i * 86400000).toISOString().slice(0, 10));
    return out;
  }

  function kindsOf(report) {
    return [...new Set(report.series.map((p) => p.kind))].sort();
  }

  // Stacked bars per day by kind. `report` is GET /v1/costs: {days, since, series:[{day, kind,
  // costMicros}], totalMicros}. Returns the kinds in legend order.
  function costChart(container, legend, report) {
    const days = daysBetween(report.since, report.days);
    const kinds = kindsOf(report);
    const byDay = new Map(days.map((d) => [d, new Map()]));
    for (const p of report.series) {
      if (byDay.has(p.day)) byDay.get(p.day).set(p.kind, p.costMicros);
    }
    const totals = days.map((d) => [...byDay.get(d).values()].reduce((a, b) => a + b, 0));
    const top = niceCeil(Math.max(0, ...totals));

    const W = 760;
    const H = 260;
    const pad = { left: 74, right: 12, top: 12, bottom: 34 };
    const plotW = W - pad.left - pad.right;
    const plotH = H - pad.top - pad.bottom;
    const slot = plotW / days.length;
    const barW = Math.max(2, Math.min(36, slot * 0.72));

    container.replaceChildren();
    const svg = el("svg", {
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-labelledby": "cost-chart-title cost-chart-desc",
      class: "admin-cost-chart",
      preserveAspectRatio: "xMidYMid meet",
    });
    const title = el("title", { id: "cost-chart-title" }, svg);
    title.textContent = `Model costs per day, last ${report.days} days`;
    const desc = el("desc", { id: "cost-chart-desc" }, svg);
    desc.textContent = `Total ${usd(report.totalMicros)} over ${report.days} days; stacked by job kind: ${kinds.join(", ") || "none"}.`;

    // Grid lines and the y axis (dollars).
    const grid = el("g", { class: "grid", "aria-hidden": "true" }, svg);
    for (let i = 0; i <= 4; i += 1) {
      const value = (top * i) / 4;
      const y = pad.top + plotH - (plotH * i) / 4;
      el("line", { x1: pad.left, x2: W - pad.right, y1: y, y2: y }, grid);
      const label = el("text", { x: pad.left - 8, y: y + 4, "text-anchor": "end", class: "axis-label" }, grid);
      label.textContent = usdAxis(value);
    }

    // X labels: about 8 across the window, always the last day.
    const every = Math.max(1, Math.ceil(days.length / 8));
    const xAxis = el("g", { class: "x-axis", "aria-hidden": "true" }, svg);
    days.forEach((d, i) => {
      if ((days.length - 1 - i) % every !== 0) return;
      const x = pad.left + slot * i + slot / 2;
      const label = el("text", { x, y: H - 12, "text-anchor": "middle", class: "axis-label" }, xAxis);
      label.textContent = d.slice(5);
    });

    const bars = el("g", { class: "bars" }, svg);
    days.forEach((d, i) => {
      let y = pad.top + plotH;
      const x = pad.left + slot * i + (slot - barW) / 2;
      const parts = byDay.get(d);
      kinds.forEach((kind, k) => {
        const micros = parts.get(kind) || 0;
        if (!micros) return;
        const h = Math.max(1, (plotH * micros) / top);
        y -= h;
        const rect = el(
          "rect",
          {
            x: x.toFixed(2),
            y: y.toFixed(2),
            width: barW.toFixed(2),
            height: h.toFixed(2),
            class: `bar series-${k % SERIES}`,
            "data-day": d,
            "data-kind": kind,
            "data-micros": micros,
          },
          bars,
        );
        const tip = el("title", {}, rect);
        tip.textContent = `${d} · ${kind}: ${usd(micros)} (day total ${usd(totals[i])})`;
      });
    });
    el("line", { x1: pad.left, x2: W - pad.right, y1: pad.top + plotH, y2: pad.top + plotH, class: "baseline" }, svg);

    if (!report.series.length) {
      const empty = el("text", { x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle", class: "empty" }, svg);
      empty.textContent = "No recorded costs in this window";
    }
    container.appendChild(svg);

    legend.replaceChildren();
    kinds.forEach((kind, k) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `legend-swatch series-${k % SERIES}`;
      swatch.setAttribute("aria-hidden", "true");
      const sum = report.series.filter((p) => p.kind === kind).reduce((a, p) => a + p.costMicros, 0);
      li.append(swatch, document.createTextNode(`${kind} ${usd(sum)}`));
      legend.appendChild(li);
    });
    return kinds;
  }

  window.LeadmagnetCharts = { costChart, usd };
})();
