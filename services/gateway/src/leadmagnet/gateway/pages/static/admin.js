// The admin console: the API key stays in this tab (sessionStorage) and is sent as a Bearer
// token to the JSON API; every value is inserted as text (textContent), never as HTML.
(() => {
  "use strict";
  const STORE = "leadmagnet.apiKey";
  const MAX_FUNNEL_TEMPLATES = 20; // run history is read per template: bounded
  const login = document.getElementById("login");
  const consoleEl = document.getElementById("console");
  const error = document.getElementById("login-error");
  const charts = window.LeadmagnetCharts;

  const key = () => sessionStorage.getItem(STORE);
  const api = (path, options = {}) =>
    fetch(path, { ...options, headers: { ...(options.headers || {}), authorization: `Bearer ${key()}` } });

  // A template answers in the casing of its kind: html snake_case, funnel camelCase (seed 001).
  const templateId = (t) => t.template_id ?? t.templateId;

  async function getJson(path) {
    const resp = await api(path);
    if (!resp.ok) {
      let message = `${resp.status}`;
      try {
        message = (await resp.json()).error.message || message;
      } catch (e) {
        /* not JSON: keep the status */
      }
      throw new Error(message);
    }
    return resp.json();
  }

  // ---- formatting ---------------------------------------------------------------------------

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  function duration(ms) {
    if (ms == null) return "running";
    if (ms < 1000) return `${ms} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }

  function age(seconds) {
    if (seconds == null) return "—";
    if (seconds < 60) return `${seconds} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
    return `${Math.floor(seconds / 86400)} d`;
  }

  const dollars = (value) => (typeof value === "number" ? `$${value.toFixed(6)}` : `$${value}`);

  // ---- table helpers ------------------------------------------------------------------------

  function cell(row, value, href, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = value;
      td.appendChild(a);
    } else {
      td.textContent = value == null ? "" : String(value);
    }
    row.appendChild(td);
    return td;
  }

  function badge(row, status) {
    const td = cell(row, "");
    const span = document.createElement("span");
    span.className = `status-badge ${String(status).replace(/[^a-z_]/g, "")}`;
    span.textContent = status;
    td.appendChild(span);
    return td;
  }

  function code(row, value) {
    const td = cell(row, "");
    if (value) {
      const c = document.createElement("code");
      c.textContent = value;
      td.appendChild(c);
    }
    return td;
  }

  function fill(id, rows, render, emptyText) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      render(tr, item);
      body.appendChild(tr);
    }
    if (!rows.length && emptyText) {
      const tr = document.createElement("tr");
      tr.className = "empty-row";
      const td = cell(tr, emptyText);
      td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
      body.appendChild(tr);
    }
  }

  function say(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  // A section that fails says so in its own status line; the others still load.
  async function section(statusId, work) {
    try {
      await work();
    } catch (e) {
      say(statusId, `Could not load: ${e.message}`);
    }
  }

  // ---- sections -----------------------------------------------------------------------------

  async function loadCosts() {
    const days = document.getElementById("cost-days").value;
    const report = await getJson(`/v1/costs?days=${encodeURIComponent(days)}`);
    const legend = document.getElementById("cost-legend");
    charts.costChart(document.getElementById("cost-chart"), legend, report);
    say(
      "cost-total",
      `${charts.usd(report.totalMicros)} in the last ${report.days} days (since ${report.since}), from ${report.jobs} job(s)` +
        (report.truncated ? " — only the newest jobs were read" : ""),
    );
    fill(
      "cost-table",
      report.series,
      (tr, p) => {
        cell(tr, p.day);
        cell(tr, p.kind);
        cell(tr, charts.usd(p.costMicros), null, "num");
      },
      "No recorded costs.",
    );
  }

  async function loadRuns(templates) {
    const funnels = templates.filter((t) => t.kind === "funnel").slice(0, MAX_FUNNEL_TEMPLATES);
    const lists = await Promise.all(
      funnels.map((t) =>
        getJson(`/v1/templates/${encodeURIComponent(templateId(t))}/runs?limit=10`).then((r) =>
          r.runs.map((run) => ({ ...run, template: t })),
        ),
      ),
    );
    const runs = lists.flat().sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
    fill(
      "runs",
      runs,
      (tr, r) => {
        cell(tr, r.template.name);
        cell(tr, r.runId, `/admin/runs/${encodeURIComponent(r.runId)}`);
        cell(tr, `v${r.templateVersion}`);
        badge(tr, r.status);
        cell(tr, duration(r.duration), null, "num");
        cell(tr, dollars(r.cost.total), null, "num");
        cell(tr, when(r.createdAt));
      },
      funnels.length ? "No runs yet." : "No funnel templates yet.",
    );
    say("runs-status", "");
  }

  async function loadKits() {
    const data = await getJson("/v1/kits?limit=50");
    fill(
      "kits",
      data.kits,
      (tr, k) => {
        cell(tr, k.jobId, k.pageUrl);
        cell(tr, k.product || "—");
        badge(tr, k.status);
        cell(tr, `$${k.costUsd}`, null, "num");
        cell(tr, when(k.createdAt));
      },
      "No product kits yet.",
    );
    say("kits-status", data.truncated ? "Showing the newest kits." : "");
  }

  async function loadLeads() {
    const data = await getJson("/v1/leads?limit=100");
    fill(
      "leads",
      data.leads,
      (tr, l) => {
        cell(tr, l.threadId);
        cell(tr, l.channel);
        badge(tr, l.state);
        code(tr, l.reason);
        cell(tr, l.missing.join(", "));
        cell(tr, l.triggers, null, "num");
        cell(tr, l.sentAt ? when(l.sentAt) : "not sent");
      },
      "No chat threads yet.",
    );
    say("leads-status", data.truncated ? "Showing the most recent threads." : "");
  }

  async function loadDlq() {
    const data = await getJson("/v1/ops/dlq");
    fill("dlq", data.queues, (tr, q) => {
      cell(tr, q.queue);
      const depth = cell(tr, q.error ? "?" : q.depth, null, "num");
      if (q.depth > 0) depth.classList.add("alert");
      cell(tr, q.error ? "" : age(q.oldestAgeSeconds), null, "num");
      const td = cell(tr, "");
      if (q.error) {
        td.textContent = q.error;
      } else if (q.oldestYours) {
        const m = q.oldestYours;
        const type = document.createElement("code");
        type.textContent = m.type || "(undecodable)";
        const reason = document.createElement("span");
        reason.className = "dlq-reason";
        reason.textContent = m.reason;
        const meta = document.createElement("span");
        meta.className = "muted";
        meta.textContent = ` · ${age(m.ageSeconds)} old · ${q.yours} of yours`;
        td.append(type, document.createTextNode(" "), reason, meta);
      } else {
        td.textContent = q.depth > 0 ? "none of yours (other tenants' or undecodable messages)" : "empty";
        td.classList.add("muted");
      }
    });
    say("dlq-status", `Checked ${when(data.checkedAt)}.`);
  }

  // POST /v1/jobs/{id}/retry or /cancel; the answer's message is shown next to the button.
  function jobAction(td, job, action, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-label", `${label} job ${job.job_id}`);
    const note = document.createElement("span");
    note.className = "muted";
    button.addEventListener("click", async () => {
      button.disabled = true;
      const resp = await api(`/v1/jobs/${encodeURIComponent(job.job_id)}/${action}`, { method: "POST" });
      if (resp.ok) {
        load();
        return;
      }
      let message = `${resp.status}`;
      try {
        message = (await resp.json()).error.message || message;
      } catch (e) {
        /* not JSON: keep the status */
      }
      note.textContent = ` ${message}`;
      button.disabled = false;
    });
    td.append(button, note);
  }

  const FINAL = new Set(["completed", "failed", "cancelled"]);

  async function loadResources() {
    const [jobs, templates, forms, workflows] = await Promise.all(
      ["/v1/jobs?limit=50", "/v1/templates", "/v1/forms", "/v1/workflows"].map(getJson),
    );
    fill("jobs", jobs.jobs, (tr, j) => {
      const href =
        j.kind === "funnel_rewrite"
          ? `/admin/runs/${encodeURIComponent(j.job_id)}`
          : `/j/${encodeURIComponent(j.job_id)}`;
      cell(tr, j.job_id, href);
      cell(tr, j.kind);
      badge(tr, j.status);
      cell(tr, j.cost_usd, null, "num");
      cell(tr, when(j.created_at));
      cell(tr, j.error_message);
      const actions = cell(tr, "");
      if (j.status === "failed") jobAction(actions, j, "retry", "Retry");
      if (!FINAL.has(j.status)) jobAction(actions, j, "cancel", "Cancel");
    });
    fill("templates", templates.templates, (tr, t) => {
      cell(tr, `${t.name} (${templateId(t)})`);
      cell(tr, t.kind);
      cell(tr, t.version);
      cell(tr, t.status);
      const td = cell(tr, "");
      if (t.status !== "published") {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Publish";
        button.setAttribute("aria-label", `Publish ${t.name} version ${t.version}`);
        button.addEventListener("click", async () => {
          const path = `/v1/templates/${encodeURIComponent(templateId(t))}/versions/${t.version}/publish`;
          const resp = await api(path, { method: "POST" });
          if (resp.ok) load();
        });
        td.appendChild(button);
      }
    });
    fill("forms", forms.forms, (tr, f) => {
      cell(tr, f.name);
      cell(tr, f.workflow_id);
      cell(tr, `/f/${f.slug}`, `/f/${encodeURIComponent(f.slug)}`);
    });
    fill("workflows", workflows.workflows, (tr, w) => {
      cell(tr, `${w.name} (${w.workflow_id})`);
      cell(tr, w.kind);
      cell(tr, w.template_id);
      cell(tr, w.webhook_url);
    });
    return templates.templates;
  }

  async function load() {
    const templates = loadResources();
    await Promise.all([
      section("cost-total", loadCosts),
      section("runs-status", async () => loadRuns(await templates)),
      section("kits-status", loadKits),
      section("leads-status", loadLeads),
      section("dlq-status", loadDlq),
      templates.catch(() => undefined),
    ]);
    consoleEl.dataset.loaded = String(Date.now());
  }

  async function start() {
    const resp = await api("/v1/jobs?limit=1");
    if (resp.status !== 200) {
      sessionStorage.removeItem(STORE);
      error.textContent = "That API key is not valid.";
      return;
    }
    login.hidden = true;
    consoleEl.hidden = false;
    await load();
  }

  login.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    sessionStorage.setItem(STORE, document.getElementById("api-key").value.trim());
    start();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(STORE);
    consoleEl.hidden = true;
    login.hidden = false;
  });
  document.getElementById("refresh").addEventListener("click", () => load());
  document.getElementById("cost-days").addEventListener("change", () => section("cost-total", loadCosts));
  if (key()) start();
})();
