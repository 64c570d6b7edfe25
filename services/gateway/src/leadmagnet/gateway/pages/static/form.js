// Hosted form: client-side validation with messages next to the fields, then a JSON submit.
// Without JavaScript the form still works: a plain POST and a redirect to the job page.
(() => {
  "use strict";
  const form = document.getElementById("lead-form");
  if (!form) return;
  const status = document.getElementById("form-status");
  const button = form.querySelector("button[type=submit]");
  const honeypot = form.querySelector(".hp input");

  const fieldBox = (name) => form.querySelector(`[data-field="${CSS.escape(name)}"]`);

  function showError(name, message) {
    const box = fieldBox(name);
    if (!box) return false;
    const input = box.querySelector("input, textarea, select");
    box.classList.add("has-error");
    box.querySelector(".field-error").textContent = `${box.dataset.label} ${message}`;
    if (input) input.setAttribute("aria-invalid", "true");
    return true;
  }

  function clearErrors() {
    for (const box of form.querySelectorAll("[data-field]")) {
      box.classList.remove("has-error");
      box.querySelector(".field-error").textContent = "";
      const input = box.querySelector("input, textarea, select");
      if (input) input.removeAttribute("aria-invalid");
    }
    status.textContent = "";
  }

  function messageFor(input) {
    const v = input.validity;
    if (v.valueMissing) return "is required";
    if (v.typeMismatch && input.type === "email") return "must be a valid email address";
    if (v.typeMismatch && input.type === "url") return "must be a valid URL";
    if (v.badInput || v.typeMismatch) return "is not valid";
    if (v.tooLong) return `must be at most ${input.maxLength} characters`;
    return "is not valid";
  }

  function checkClientSide() {
    let first = null;
    for (const box of form.querySelectorAll("[data-field]")) {
      const input = box.querySelector("input, textarea, select");
      if (input && !input.checkValidity()) {
        showError(box.dataset.field, messageFor(input));
        first = first || input;
      }
    }
    if (first) {
      status.textContent = "Please check the highlighted fields.";
      first.focus();
    }
    return first === null;
  }

  function payload() {
    const body = {};
    for (const box of form.querySelectorAll("[data-field]")) {
      const input = box.querySelector("input, textarea, select");
      if (!input) continue;
      body[box.dataset.field] = input.type === "checkbox" ? input.checked : input.value;
    }
    if (honeypot && honeypot.value) body[honeypot.name] = honeypot.value;
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    if (!checkClientSide()) return;
    button.disabled = true;
    status.textContent = "Sending…";
    try {
      const resp = await fetch(form.dataset.submitUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload()),
      });
      const body = await resp.json().catch(() => null);
      if (resp.status === 202 && body && body.job_id) {
        window.location.assign(`/j/${encodeURIComponent(body.job_id)}`);
        return;
      }
      const details = (body && body.error && body.error.details) || [];
      let shown = 0;
      for (const d of details) {
        if (d.loc.startsWith("body.") && showError(d.loc.slice(5), d.message)) shown += 1;
      }
      status.textContent = shown
        ? "Please check the highlighted fields."
        : (body && body.error && body.error.message) || "Something went wrong. Please try again.";
    } catch (err) {
      status.textContent = "We could not reach the server. Please try again.";
    }
    button.disabled = false;
  });
})();
