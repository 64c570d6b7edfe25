// Chat widget demo (seed 003 triggers). The transcript goes to POST /v1/leads:
//   idle        after a quiet window (data-idle-seconds; 5 minutes by default)
//   pagehide    when the page is hidden or left (navigator.sendBeacon survives the unload)
//   chat_closed when the visitor closes the panel
// The backend answers with reason codes (queued, missing_contact, not_idle, ...), shown below.
(() => {
  "use strict";
  const root = document.getElementById("chat");
  if (!root) return;
  const log = document.getElementById("chat-log");
  const debug = document.getElementById("chat-debug");
  const form = document.getElementById("chat-form");
  const text = document.getElementById("chat-text");
  const file = document.getElementById("chat-file");
  const channel = root.dataset.channel;
  const idleMs = Number(root.dataset.idleSeconds) * 1000;
  const threadId = root.dataset.threadId;
  const messages = [];
  let idleTimer = null;
  let hiddenSent = false;

  function note(line) {
    const li = document.createElement("li");
    li.textContent = `${new Date().toISOString().slice(11, 19)} ${line}`;
    debug.appendChild(li);
  }

  function show(message, imageUrl) {
    const li = document.createElement("li");
    li.className = message.role;
    if (message.text) li.appendChild(document.createTextNode(message.text));
    if (imageUrl) {
      const img = document.createElement("img");
      img.src = imageUrl;
      img.alt = "Uploaded photo";
      li.appendChild(img);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  const hasCustomerText = () => messages.some((m) => m.role === "user");
  const body = (reason) =>
    JSON.stringify({ channel, thread_id: threadId, reason, messages });

  async function trigger(reason) {
    if (!hasCustomerText()) return;
    note(`→ ${reason}`);
    try {
      const resp = await fetch("/v1/leads", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body(reason),
        keepalive: true,
      });
      const answer = await resp.json();
      note(`← ${reason}: ${resp.status} ${answer.status || (answer.error && answer.error.code)}`);
    } catch (err) {
      note(`← ${reason}: network error`);
    }
  }

  function beacon(reason) {
    if (!hasCustomerText() || hiddenSent) return;
    hiddenSent = true;
    const ok = navigator.sendBeacon("/v1/leads", new Blob([body(reason)], { type: "application/json" }));
    note(`→ ${reason} (beacon ${ok ? "queued" : "refused"})`);
  }

  function restartIdle() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => trigger("idle"), idleMs);
  }

  function add(message, imageUrl) {
    messages.push({ ...message, time: new Date().toISOString() });
    show(message, imageUrl);
    hiddenSent = false;
    restartIdle();
  }

  function reply() {
    const all = messages.filter((m) => m.role === "user").map((m) => m.text).join(" ");
    const contact = /@|\d{6,}/.test(all.replace(/[\s().-]/g, ""));
    add({
      role: "assistant",
      text: contact
        ? "Thank you! Someone from our team will get back to you shortly."
        : "Happy to help. What is the best phone number or e-mail to reach you?",
    });
  }

  document.getElementById("chat-open").addEventListener("click", () => {
    root.hidden = false;
    text.focus();
  });
  document.getElementById("chat-close").addEventListener("click", () => {
    root.hidden = true;
    clearTimeout(idleTimer);
    trigger("chat_closed");
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    text.value = "";
    add({ role: "user", text: value });
    setTimeout(reply, 300);
  });
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    const query = new URLSearchParams({ channel, filename: chosen.name.slice(0, 200) });
    const resp = await fetch(`/v1/attachments?${query}`, {
      method: "POST",
      headers: { "content-type": chosen.type || "application/octet-stream" },
      body: chosen,
    });
    const answer = await resp.json();
    if (resp.status !== 201) {
      note(`attachment refused: ${answer.error && answer.error.code}`);
      return;
    }
    add(
      { role: "user", text: "", attachments: [{ id: answer.id, name: answer.name }] },
      answer.preview_url,
    );
    note(`attachment ${answer.id} uploaded`);
    file.value = "";
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") beacon("pagehide");
    else hiddenSent = false;
  });
  window.addEventListener("pagehide", () => beacon("pagehide"));
})();
