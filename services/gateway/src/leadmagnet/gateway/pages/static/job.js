// Job page (every kind): live progress from the SSE endpoint (EventSource resumes with
// Last-Event-ID by itself). When the job changes state (analysis ready, awaiting confirmation or
// approval, completed, failed) the page's own server-rendered view of the job is fetched again
// and swapped in: one rendering (the escaped template) for the first load, live updates and
// browsers without JavaScript. Other scripts ask for a refresh with a "job:refresh" event and
// hear about one through "job:updated".
(() => {
  "use strict";
  let root = document.getElementById("job");
  if (!root) return;
  const REFRESH_TYPES = new Set(["job.analysis_complete", "callback.awaiting", "callback.received"]);
  let shown = 0;

  function setProgress(value) {
    const p = Math.max(0, Math.min(100, Number(value) || 0));
    shown = Math.max(shown, p);
    const bar = document.getElementById("progress-bar");
    const meter = document.getElementById("progress");
    if (!bar || !meter) return;
    bar.style.width = `${shown}%`;
    meter.setAttribute("aria-valuenow", String(shown));
    const steps = document.querySelectorAll("#job-steps li");
    steps.forEach((li, i) => {
      const at = Number(li.dataset.at || 0);
      const next = i + 1 < steps.length ? Number(steps[i + 1].dataset.at) : 101;
      li.className = shown >= next || shown >= 100 ? "done" : shown >= at ? "current" : "";
    });
  }

  // One refresh at a time; a request during one runs once more afterwards.
  let running = null;
  let again = false;
  async function fetchView(expected) {
    for (let attempt = 0; attempt < 6; attempt += 1) {
      try {
        const resp = await fetch(`/j/${encodeURIComponent(root.dataset.jobId)}`, {
          headers: { accept: "text/html" },
          cache: "no-store",
          credentials: "same-origin",
        });
        if (resp.ok) {
          const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
          const next = doc.getElementById("job");
          if (next && (!expected || next.dataset.status === expected)) {
            const fresh = document.adoptNode(next);
            root.replaceWith(fresh);
            root = fresh;
            document.title = doc.title;
            setProgress(document.getElementById("progress-bar")?.dataset.progress);
            document.dispatchEvent(new CustomEvent("job:updated", { detail: { status: root.dataset.status } }));
            return;
          }
        }
      } catch (err) {
        // a network blip: try again below
      }
      await new Promise((resolve) => setTimeout(resolve, 400 * (attempt + 1)));
    }
  }

  function refresh(expected) {
    if (running) {
      again = true;
      return running;
    }
    running = fetchView(expected).finally(() => {
      running = null;
      if (again) {
        again = false;
        refresh();
      }
    });
    return running;
  }

  document.addEventListener("job:refresh", (event) => refresh(event.detail && event.detail.status));
  setProgress(document.getElementById("progress-bar").dataset.progress);
  const FINAL = new Set(["completed", "failed", "cancelled"]);
  if (FINAL.has(root.dataset.status)) return;

  const events = new EventSource(root.dataset.eventsUrl);
  events.onmessage = (message) => {
    const e = JSON.parse(message.data);
    setProgress(e.progress);
    const stage = document.getElementById("job-stage");
    if (e.label && stage) stage.textContent = e.label;
    if (FINAL.has(e.status)) events.close();
    if ((e.status && e.status !== root.dataset.status) || REFRESH_TYPES.has(e.type)) {
      refresh(e.status || undefined);
    }
  };
  events.addEventListener("end", () => events.close());
})();
