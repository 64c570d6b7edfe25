// Job page: live progress from the SSE endpoint (EventSource resumes with Last-Event-ID by
// itself), then the finished lead magnet in a sandboxed frame, or a friendly failure message.
(() => {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const bar = document.getElementById("progress-bar");
  const meter = document.getElementById("progress");
  const stage = document.getElementById("job-stage");
  const heading = document.getElementById("job-heading");
  const steps = document.querySelectorAll("#job-steps li");

  function setProgress(value) {
    const p = Math.max(0, Math.min(100, Number(value) || 0));
    bar.style.width = `${p}%`;
    meter.setAttribute("aria-valuenow", String(p));
    steps.forEach((li, i) => {
      const at = Number(li.dataset.at || 0);
      const next = i + 1 < steps.length ? Number(steps[i + 1].dataset.at) : 101;
      li.className = p >= next || p >= 100 ? "done" : p >= at ? "current" : "";
    });
  }

  async function showResult() {
    const resp = await fetch(root.dataset.jobUrl, { headers: { accept: "application/json" } });
    const job = await resp.json();
    heading.textContent = "Your report is ready";
    const frame = document.getElementById("lead-magnet");
    if (job.output_url && !frame.getAttribute("src")) frame.src = job.output_url;
    document.getElementById("job-result").hidden = false;
    root.dataset.status = "completed";
  }

  function showFailed() {
    heading.textContent = "We could not finish your report";
    stage.textContent = "Something went wrong.";
    document.getElementById("job-failed").hidden = false;
    root.dataset.status = "failed";
  }

  setProgress(bar.dataset.progress);
  if (root.dataset.status === "completed" || root.dataset.status === "failed") return;

  const events = new EventSource(root.dataset.eventsUrl);
  events.onmessage = (message) => {
    const e = JSON.parse(message.data);
    setProgress(e.progress);
    if (e.label) stage.textContent = e.label;
    if (e.status === "completed") {
      events.close();
      showResult();
    } else if (e.status === "failed") {
      events.close();
      showFailed();
    }
  };
  events.addEventListener("end", () => events.close());
})();
