// The app catalog's launch forms: a profile field offers the chosen team's profiles; Launch
// posts the form as JSON to the sessions API (numbers as JSON numbers) and goes to My
// sessions. A refused launch shows the portal's message at the field it names ("hours: …").
"use strict";

(() => {
  const root = document.getElementById("apps");
  const FIELD = /^([a-z0-9_]+): /;

  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach((input) => input.classList.remove("is-invalid"));
    form.querySelectorAll(".field-error").forEach((box) => { box.textContent = ""; });
    const alert = form.querySelector(".launch-alert");
    alert.textContent = "";
    alert.classList.add("d-none");
  }

  // The message next to the field it names (the answer's `field`, else the message's
  // "field: " prefix), else above the Launch button.
  function showError(form, message, field) {
    const name = field || FIELD.exec(message)?.[1];
    const input = name ? form.elements.namedItem(name) : null;
    if (input instanceof HTMLElement && input.closest(".launch-field")) {
      input.classList.add("is-invalid");
      input.closest(".launch-field").querySelector(".field-error").textContent = message;
      input.focus();
    } else {
      const alert = form.querySelector(".launch-alert");
      alert.textContent = message;  // text, never HTML: messages quote what was typed
      alert.classList.remove("d-none");
    }
  }

  // POST the launch; the answer's JSON either way (a refusal names the field at fault).
  async function launch(payload) {
    const r = await fetch(root.dataset.api, {
      method: "POST", headers: {"Content-Type": "application/json", "X-XSRFToken": window.jhdata.xsrf_token},
      body: JSON.stringify(payload),
    });
    const data = await r.json().catch(() => ({message: r.statusText || `HTTP ${r.status}`}));
    return {ok: r.ok, data};
  }

  // The request body: the team and each field by id, numbers as numbers; an empty number
  // is left out, so the app's default applies.
  function body(form) {
    const out = {app: form.dataset.app};
    for (const input of form.querySelectorAll("[name]")) {
      const kind = input.dataset.kind;
      if (["hours", "gpus", "number"].includes(kind)) {
        if (input.value.trim() !== "") out[input.name] = Number(input.value);
      } else {
        out[input.name] = input.value;
      }
    }
    return out;
  }

  function setUp(form) {
    const team = form.elements.namedItem("team");
    const profile = form.querySelector("select[data-kind=profile]");
    const offered = form.dataset.profiles ? JSON.parse(form.dataset.profiles) : {};
    if (profile) {
      team.addEventListener("change", () => {
        const keep = profile.value;
        const options = offered[team.value] || [];
        profile.replaceChildren(...options.map(([value, label]) => portal.el("option", {value}, label)));
        const names = options.map(([value]) => value);
        profile.value = names.includes(keep) ? keep : names.includes(profile.dataset.default) ? profile.dataset.default : names[0] || "";
      });
    }
    // An app's pattern is a Python regular expression: the browser checks it too where it
    // means the same in JavaScript; the portal's answer is what counts either way.
    for (const input of form.querySelectorAll("input[data-pattern]")) {
      try {
        new RegExp(`^(?:${input.dataset.pattern})$`, "v");
        input.pattern = input.dataset.pattern;
      } catch (e) { /* not a JavaScript pattern: the portal alone checks it */ }
    }
    form.addEventListener("input", (e) => {
      e.target.classList?.remove("is-invalid");
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const button = form.querySelector(".launch-button");
      button.disabled = true;
      button.textContent = "Launching…";
      let answer;
      try {
        answer = await launch(body(form));
      } catch (err) {
        answer = {ok: false, data: {message: `Could not reach the portal: ${err.message}`}};
      }
      if (answer.ok) {
        window.location.assign(root.dataset.sessionsPage);
        return;
      }
      showError(form, answer.data.message || "The launch was refused", answer.data.field);
      button.disabled = false;
      button.textContent = "Launch";
    });
  }

  document.querySelectorAll(".launch-form").forEach(setUp);
})();
