// Minimal admin console: the API key stays in this tab (sessionStorage) and is sent as a Bearer
// token to the JSON API; every value is inserted as text, never as HTML.
(() => {
  "use strict";
  const STORE = "leadmagnet.apiKey";
  const login = document.getElementById("login");
  const consoleEl = document.getElementById("console");
  const error = document.getElementById("login-error");

  const key = () => sessionStorage.getItem(STORE);
  const api = (path, options = {}) =>
    fetch(path, { ...options, headers: { ...(options.headers || {}), authorization: `Bearer ${key()}` } });

  function cell(row, value, href) {
    const td = document.createElement("td");
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

  function fill(id, rows, render) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      render(tr, item);
      body.appendChild(tr);
    }
  }

  async function load() {
    const [jobs, templates, forms, workflows] = await Promise.all(
      ["/v1/jobs?limit=50", "/v1/templates", "/v1/forms", "/v1/workflows"].map((p) =>
        api(p).then((r) => r.json()),
      ),
    );
    fill("jobs", jobs.jobs, (tr, j) => {
      cell(tr, j.job_id, j.kind === "funnel_rewrite" ? null : `/j/${encodeURIComponent(j.job_id)}`);
      cell(tr, j.kind);
      cell(tr, j.status);
      cell(tr, j.cost_usd);
      cell(tr, j.created_at);
      cell(tr, j.error_message);
    });
    fill("templates", templates.templates, (tr, t) => {
      cell(tr, `${t.name} (${t.template_id})`);
      cell(tr, t.kind);
      cell(tr, t.version);
      cell(tr, t.status);
      const td = cell(tr, "");
      if (t.status !== "published") {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Publish";
        button.addEventListener("click", async () => {
          const path = `/v1/templates/${encodeURIComponent(t.template_id)}/versions/${t.version}/publish`;
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
  if (key()) start();
})();
