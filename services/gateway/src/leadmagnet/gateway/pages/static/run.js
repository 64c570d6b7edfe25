// Funnel run page (admin): the run read with the API key kept in this tab (the same
// sessionStorage entry as /admin), shown as the template's funnel beside the rewritten one
// (changed texts highlighted), the processed images, the cost breakdown as an SVG chart and the
// run's log. Every value is inserted as text or as an attribute, never as HTML.
(() => {
  "use strict";
  const STORE = "leadmagnet.apiKey";
  const SVG = "http://www.w3.org/2000/svg";
  const root = document.getElementById("run");
  if (!root) return;
  const runId = root.dataset.runId;
  const login = document.getElementById("login");
  const message = document.getElementById("run-message");
  const key = () => sessionStorage.getItem(STORE);
  const api = (path) => fetch(path, { headers: { authorization: `Bearer ${key()}`, accept: "application/json" } });

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text != null) node.textContent = String(text);
    return node;
  }

  // ---- the funnel as pages -------------------------------------------------------------------

  const IMAGE_WORDS = /(^|_|-|\b)(logo|image|img|photo|picture|icon|banner|hero|avatar|thumbnail)s?($|_|-|url)/i;
  const IMAGE_EXT = /\.(png|jpe?g|gif|webp|svg|avif)(\?|#|$)/i;
  const TITLE_KEYS = /^(headline|title|heading|name)$/i;
  const SUBTITLE_KEYS = /^(subheadline|subtitle|subheading|tagline)$/i;

  function label(name, image = false) {
    let text = String(name).replace(/^opt_/, "");
    if (image) text = text.replace(/_url$/i, "").replace(/Url$/, "");
    text = text
      .replace(/([a-z])([A-Z])/g, "$1 $2")
      .replace(/[_-]+/g, " ")
      .trim();
    return text ? text[0].toUpperCase() + text.slice(1) : String(name);
  }

  const isUrl = (v) => typeof v === "string" && /^https?:\/\//i.test(v);
  const isImage = (name, value, path, images) =>
    images.has(path) || (isUrl(value) && (IMAGE_EXT.test(value) || IMAGE_WORDS.test(String(name))));

  function childPath(path, name) {
    return typeof name === "number" ? `${path}[${name}]` : path ? `${path}.${name}` : String(name);
  }

  // Renders `value` (one side) with `other` (the other side's value at the same place) to tell
  // what changed. Both funnels have the same structure (the platform checks it).
  function render(name, value, other, path, ctx) {
    if (Array.isArray(value)) {
      const list = el("ol", { class: "fn-list" });
      value.forEach((item, i) => {
        const li = el("li", { class: "fn-item" });
        li.append(render(i, item, Array.isArray(other) ? other[i] : undefined, childPath(path, i), ctx));
        list.append(li);
      });
      return typeof name === "number" ? list : el("div", { class: "fn-group" }, el("h4", { class: "fn-heading" }, label(name)), list);
    }
    if (value && typeof value === "object") {
      const box = el("div", { class: path ? "fn-section" : "fn-root" });
      if (path && typeof name !== "number") box.append(el("h4", { class: "fn-heading" }, label(name)));
      for (const [k, v] of Object.entries(value)) {
        box.append(render(k, v, other && typeof other === "object" ? other[k] : undefined, childPath(path, k), ctx));
      }
      return box;
    }
    const changed = ctx.compare && other !== undefined && JSON.stringify(other) !== JSON.stringify(value);
    if (changed) ctx.changes.push(path);
    const field = el("div", { class: `fn-field${changed ? " changed" : ""}`, "data-path": path });
    const image = typeof value === "string" && isImage(name, value, path, ctx.images);
    if (typeof name !== "number") field.append(el("span", { class: "fn-label" }, label(name, image)));
    if (image) {
      const img = el("img", { src: value, alt: `${label(name, true)} (${ctx.side})`, class: "fn-image", referrerpolicy: "no-referrer" });
      img.addEventListener("error", () => {
        img.replaceWith(el("span", { class: "fn-missing" }, "Image not available"));
      });
      field.append(el("figure", { class: "fn-figure" }, img));
    } else if (isUrl(value)) {
      field.append(el("a", { href: value, rel: "noopener noreferrer", target: "_blank", class: "fn-link" }, value));
    } else if (value === "") {
      field.append(el("p", { class: "fn-text fn-empty" }, changed ? el("mark", {}, "(empty)") : "(empty)"));
    } else if (typeof value === "string") {
      const size = TITLE_KEYS.test(String(name)) ? " fn-title" : SUBTITLE_KEYS.test(String(name)) ? " fn-subtitle" : "";
      const cls = `fn-text${size}`;
      field.append(el("p", { class: cls }, changed ? el("mark", {}, value) : value));
    } else {
      const shown = value === null ? "—" : typeof value === "boolean" ? (value ? "yes" : "no") : String(value);
      field.append(el("span", { class: "fn-value" }, changed ? el("mark", {}, shown) : shown));
    }
    return field;
  }

  function showFunnel(template, output, images) {
    const left = document.getElementById("funnel-template");
    const right = document.getElementById("funnel-output");
    left.replaceChildren();
    right.replaceChildren();
    if (template) left.append(render("", template, undefined, "", { compare: false, changes: [], images, side: "template" }));
    else left.append(el("p", { class: "muted" }, "The template version is not available."));
    if (output) {
      const ctx = { compare: true, changes: [], images, side: "rewritten" };
      right.append(render("", output, template || undefined, "", ctx));
      right.dataset.changes = String(ctx.changes.length);
    } else {
      right.append(el("p", { class: "muted" }, "The rewritten funnel appears here when the run completes."));
    }
  }

  // ---- images, cost, log ----------------------------------------------------------------------

  const money = (v) => `$${Number(v || 0).toFixed(4)}`;

  function showImages(results) {
    const list = document.getElementById("run-images");
    list.replaceChildren();
    if (!results.length) {
      list.append(el("li", { class: "muted" }, "This funnel has no images."));
      return;
    }
    for (const r of results) {
      const url = r.newUrl || null;
      const body = url
        ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "gallery-link" }, el("img", { src: url, alt: `New image for ${r.elementId}` }))
        : el("span", { class: "fn-missing" }, r.status === "failed" ? "Failed" : "Not available");
      const caption = el("figcaption", {}, el("code", {}, r.elementId), " ", el("span", { class: `status-badge ${r.status}` }, r.status.replace("_", " ")));
      if (r.error) caption.append(el("span", { class: "muted" }, ` ${r.error}`));
      list.append(el("li", {}, el("figure", {}, body, caption)));
    }
  }

  function showCost(cost) {
    const box = document.getElementById("cost-chart");
    box.replaceChildren();
    const rows = [
      ["Agent", cost.agent, "agent", `${cost.details.agent.calls} call(s), ${cost.details.agent.tokens.input} in / ${cost.details.agent.tokens.output} out / ${cost.details.agent.tokens.reasoning} reasoning tokens`],
      ["Images", cost.image, "image", `${cost.details.images.calls} call(s), ${cost.details.images.imagesGenerated} image(s)`],
    ];
    const max = Math.max(...rows.map((r) => Number(r[1]) || 0), 1e-9);
    const width = 640;
    const labelW = 90;
    const valueW = 90;
    const barMax = width - labelW - valueW;
    const rowH = 34;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 34}`, role: "img", class: "cost-svg", "aria-labelledby": "cost-title" });
    chart.append(svg("title", { id: "cost-title" }, `Cost: total ${money(cost.total)}, agent ${money(cost.agent)}, images ${money(cost.image)}`));
    rows.forEach(([name, value, cls], i) => {
      const y = i * rowH + 6;
      const w = Math.max(2, (barMax * (Number(value) || 0)) / max);
      chart.append(svg("text", { x: 0, y: y + 17, class: "cost-label" }, name));
      chart.append(svg("rect", { x: labelW, y, width: barMax, height: 22, rx: 4, class: "cost-track" }));
      chart.append(svg("rect", { x: labelW, y, width: w, height: 22, rx: 4, class: `cost-bar ${cls}` }));
      chart.append(svg("text", { x: width, y: y + 17, "text-anchor": "end", class: "cost-value" }, money(value)));
    });
    const ty = rows.length * rowH + 26;
    chart.append(svg("text", { x: 0, y: ty, class: "cost-total" }, `Total ${money(cost.total)}`));
    box.append(chart);
    const details = el("ul", { class: "cost-details" });
    for (const [name, value, , text] of rows) details.append(el("li", {}, el("strong", {}, `${name}: ${money(value)}`), ` · ${text}`));
    box.append(details);
  }

  function showLog(entries) {
    const body = document.querySelector("#run-log tbody");
    body.replaceChildren();
    for (const e of entries) {
      const time = new Date(e.timestamp);
      const msg = el("td", {}, e.message);
      if (e.data && Object.keys(e.data).length) {
        msg.append(el("details", {}, el("summary", {}, "data"), el("pre", {}, JSON.stringify(e.data, null, 2))));
      }
      body.append(
        el(
          "tr",
          { class: `level-${String(e.level).toLowerCase()}` },
          el("td", {}, el("time", { datetime: e.timestamp }, time.toLocaleTimeString([], { hour12: false }))),
          el("td", {}, el("span", { class: `status-badge ${String(e.level).toLowerCase()}` }, e.level)),
          el("td", {}, e.logType),
          el("td", {}, el("code", {}, e.type)),
          msg,
        ),
      );
    }
  }

  function showSummary(run, template) {
    const dl = document.getElementById("run-summary");
    dl.replaceChildren();
    const rows = [
      ["Status", el("span", { class: `status-badge ${run.status}`, id: "run-status" }, run.status)],
      ["Template", `${template ? template.name : run.templateId} (${run.templateId}) v${run.templateVersion}`],
      ["Brief", run.input && run.input.input_as_text ? run.input.input_as_text : "—"],
      ["Duration", run.duration == null ? "running" : `${(run.duration / 1000).toFixed(1)} s`],
      ["Started", new Date(run.createdAt).toLocaleString()],
    ];
    for (const [name, value] of rows) dl.append(el("div", {}, el("dt", {}, name), el("dd", {}, value)));
    const error = document.getElementById("run-error");
    error.hidden = !run.errorMessage;
    error.textContent = run.errorMessage ? `${run.errorCode || "error"}: ${run.errorMessage}` : "";
    document.getElementById("template-heading").textContent = `Template v${run.templateVersion}`;
  }

  // ---- loading ----------------------------------------------------------------------------------

  let timer = null;
  async function load() {
    const resp = await api(`/v1/runs/${encodeURIComponent(runId)}`);
    if (resp.status === 401) {
      sessionStorage.removeItem(STORE);
      return askKey("That API key is not valid.");
    }
    if (resp.status === 404) {
      message.textContent = "There is no such run for this API key.";
      return;
    }
    if (!resp.ok) {
      message.textContent = `The run could not be loaded (${resp.status}).`;
      return;
    }
    const run = await resp.json();
    const [versions, logs] = await Promise.all([
      api(`/v1/templates/${encodeURIComponent(run.templateId)}`).then((r) => (r.ok ? r.json() : { templates: [] })),
      api(`/v1/runs/${encodeURIComponent(runId)}/logs`).then((r) => (r.ok ? r.json() : { logs: [] })),
    ]);
    const template = (versions.templates || []).find((t) => t.version === run.templateVersion) || null;
    const results = run.imageProcessingResults || [];
    const images = new Set(results.map((r) => r.elementId));
    login.hidden = true;
    message.hidden = true;
    root.hidden = false;
    showSummary(run, template);
    showFunnel(template && template.templateFunnelJson, run.output, images);
    showImages(results);
    showCost(run.cost);
    showLog(logs.logs || []);
    root.dataset.status = run.status;
    clearTimeout(timer);
    if (!["completed", "failed", "cancelled"].includes(run.status)) timer = setTimeout(load, 2000);
  }

  function askKey(error) {
    root.hidden = true;
    message.hidden = true;
    login.hidden = false;
    document.getElementById("login-error").textContent = error || "";
    document.getElementById("api-key").focus();
  }

  login.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(STORE, document.getElementById("api-key").value.trim());
    document.getElementById("login-error").textContent = "";
    message.hidden = false;
    message.textContent = "Loading…";
    load();
  });
  if (key()) load();
  else askKey();
})();
