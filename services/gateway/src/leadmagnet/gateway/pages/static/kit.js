// Product kit page: the confirm step without a page load (the plain form post works without
// JavaScript too), copy buttons (navigator.clipboard) and a full-size view of the images. The
// page's parts are replaced when the job changes (job.js), so every handler is delegated.
(() => {
  "use strict";

  function showCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll(".copy-button[data-copy]").forEach((button) => {
      button.hidden = false;
    });
  }

  async function copy(button) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const items = source.tagName === "UL" ? [...source.querySelectorAll("li")].map((li) => li.textContent) : null;
    const text = items ? items.join(" ") : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (err) {
      button.textContent = "Copy failed";
    }
    clearTimeout(Number(button.dataset.timer));
    button.dataset.timer = String(setTimeout(() => { button.textContent = "Copy"; }, 2000));
  }

  function preferences(form) {
    const data = new FormData(form);
    return {
      language: data.get("language"),
      tone: data.get("tone"),
      platforms: data.getAll("platforms"),
      targetLength: data.get("targetLength"),
    };
  }

  async function confirm(form) {
    const error = document.getElementById("confirm-error");
    const button = document.getElementById("confirm-button");
    error.textContent = "";
    const prefs = preferences(form);
    if (prefs.platforms.length === 0) {
      error.textContent = "Choose at least one platform.";
      return;
    }
    button.disabled = true;
    button.textContent = "Confirming…";
    try {
      const resp = await fetch(form.action, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ preferences: prefs }),
      });
      if (resp.status === 202) {
        document.dispatchEvent(new CustomEvent("job:refresh", { detail: { status: "processing" } }));
        return;
      }
      const body = await resp.json().catch(() => ({}));
      error.textContent = (body.error && body.error.message) || "We could not confirm the kit.";
      if (resp.status === 409) document.dispatchEvent(new CustomEvent("job:refresh", { detail: {} }));
    } catch (err) {
      error.textContent = "We could not reach the server. Please try again.";
    }
    button.disabled = false;
    button.textContent = "Confirm and generate";
  }

  function openImage(link) {
    const dialog = document.getElementById("lightbox");
    if (!dialog || typeof dialog.showModal !== "function") return false;
    const image = document.getElementById("lightbox-image");
    const thumb = link.querySelector("img");
    image.src = link.href;
    image.alt = thumb ? thumb.alt : "";
    document.getElementById("lightbox-caption").textContent = thumb ? thumb.alt : "";
    dialog.showModal();
    return true;
  }

  document.addEventListener("submit", (event) => {
    if (event.target && event.target.id === "kit-confirm") {
      event.preventDefault();
      confirm(event.target);
    }
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest(".copy-button[data-copy]");
    if (button) {
      copy(button);
      return;
    }
    const link = event.target.closest("a.gallery-link");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && openImage(link)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", (event) => {
    // a click on the backdrop (the dialog itself, outside its content) closes the full view
    if (event.target && event.target.id === "lightbox") event.target.close();
  });
  document.addEventListener("job:updated", showCopyButtons);
  showCopyButtons();
})();
