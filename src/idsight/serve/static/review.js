// The review form: keyboard only. Tab moves between fields, Enter submits, Esc undoes a field's edits.
// An unchanged field is sent as "confirmed", a changed one as "corrected"; a field nothing was read for
// is sent only if something was typed. API errors (409, 422, ...) are shown in #error, nothing is lost.
(() => {
  "use strict";
  const form = document.getElementById("review");
  if (!form) return;
  const root = document.body.dataset.root || "";
  const error = document.getElementById("error");
  const status = document.getElementById("status");
  const button = form.querySelector("button[type=submit]");

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
    status.textContent = "";
    button.disabled = false;
  }

  function verdicts() {
    const fields = {};
    for (const div of form.querySelectorAll(".field")) {
      const inputs = Array.from(div.querySelectorAll("input.text"), (i) => i.value);
      const value = inputs.join(div.dataset.joiner);
      const wasRead = div.dataset.read === "1";
      if (wasRead && value === div.dataset.original) {
        fields[div.dataset.field] = { status: "confirmed", text: null };
      } else if (wasRead || value.trim() !== "") {
        fields[div.dataset.field] = { status: "corrected", text: value };
      }
    }
    return fields;
  }

  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.matches("input.text")) {
      event.target.value = event.target.defaultValue;
    }
  });

  form.addEventListener("input", (event) => {
    const div = event.target.closest(".field");
    if (div) {
      const value = Array.from(div.querySelectorAll("input.text"), (i) => i.value).join(div.dataset.joiner);
      div.classList.toggle("changed", div.dataset.read !== "1" ? value !== "" : value !== div.dataset.original);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    status.textContent = "Saving…";
    const reviewer = form.elements.reviewer.value;
    const body = { reviewer, expected_version: Number(form.dataset.version), fields: verdicts() };
    let response;
    try {
      response = await fetch(form.dataset.api, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (err) {
      showError(`could not reach the server: ${err}`);
      return;
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) {
        /* not JSON: keep the status text */
      }
      showError(`${response.status}: ${detail}`);
      return;
    }
    status.textContent = "Saved.";
    const who = encodeURIComponent(reviewer);
    let next = `${root}/?reviewer=${who}`;
    try {
      const queue = await (await fetch(`${root}/api/queue?limit=1`)).json();
      if (queue.reads.length) next = `${root}/reads/${queue.reads[0].id}?reviewer=${who}`;
    } catch (_) {
      /* fall back to the queue page */
    }
    window.location.assign(next);
  });
})();
