// The operators' overview: "Edit limits" loads the team's current limits from the API into
// the form; saving sends them in one PATCH (quota, profiles, delete policy), reloads and
// says "saved". "New team" creates one (POST); "Delete" asks for the team's name first.
"use strict";

(() => {
  const api = document.getElementById("overview").dataset.api;
  const form = document.getElementById("limits-form");
  const modal = document.getElementById("limits-modal");
  const alertBox = document.getElementById("limits-alert");
  const pageAlert = document.getElementById("overview-alert");
  const NUMBERS = ["gpus", "cpu"], SIZES = ["memory", "storage"];
  const NOTICE = "aiportal-overview-notice";
  let team = null;

  // A message that survives the reload after a change: [text, kind].
  function noticeAfterReload(text, kind = "success") {
    sessionStorage.setItem(NOTICE, JSON.stringify([text, kind]));
    window.location.reload();
  }
  const notice = sessionStorage.getItem(NOTICE);
  if (notice) {
    sessionStorage.removeItem(NOTICE);
    const [text, kind] = JSON.parse(notice);
    portal.showAlert(pageAlert, text, kind);
  }

  // The limits of a form as the API takes them: an empty field is no limit (null).
  function limits(f) {
    const quota = {};
    for (const key of NUMBERS) quota[key] = f.get(key) === "" ? null : Number(f.get(key));
    for (const key of SIZES) quota[key] = f.get(key) === "" ? null : /^\d+$/.test(f.get(key)) ? Number(f.get(key)) : f.get(key);
    return {quota, profiles: f.getAll("profiles"), delete_policy: f.get("delete_policy")};
  }

  function saved(what, answer) {
    const text = answer.warning ? `${what} saved. Note: ${answer.warning}.` : `${what} saved.`;
    noticeAfterReload(text, answer.warning ? "warning" : "success");
  }

  async function edit(name) {
    let t;
    try {
      t = await portal.request("GET", api + encodeURIComponent(name));
    } catch (e) {
      portal.showAlert(pageAlert, e.message);
      return;
    }
    team = name;
    document.getElementById("limits-team").textContent = `${t.display_name} (${t.name})`;
    for (const key of [...NUMBERS, ...SIZES]) {
      const value = t.quota[key], input = form.elements[key];
      input.value = value === undefined ? "" : SIZES.includes(key) ? portal.quantity(value) : value;
    }
    for (const box of form.querySelectorAll("input[name=profiles]")) box.checked = t.profiles.includes(box.value);
    form.elements.delete_policy.value = t.delete_policy;
    alertBox.className = "alert d-none";
    bootstrap.Modal.getOrCreateInstance(modal).show();
  }

  document.querySelectorAll(".edit-limits").forEach((b) => b.addEventListener("click", () => edit(b.dataset.team)));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      saved(`Limits of ${team}`, await portal.request("PATCH", api + encodeURIComponent(team), limits(new FormData(form))));
    } catch (err) {
      portal.showAlert(alertBox, err.message);
    }
  });

  // New team
  const newForm = document.getElementById("new-team-form");
  const newModal = document.getElementById("new-team-modal");
  document.getElementById("new-team").addEventListener("click", () => {
    newForm.reset();
    document.getElementById("new-team-alert").className = "alert d-none";
    bootstrap.Modal.getOrCreateInstance(newModal).show();
  });
  newForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(newForm), body = {name: f.get("name").trim(), ...limits(f)};
    if (f.get("display_name").trim()) body.display_name = f.get("display_name").trim();
    body.quota = Object.fromEntries(Object.entries(body.quota).filter(([, v]) => v !== null));
    try {
      saved(`Team ${body.name}`, await portal.request("POST", api.replace(/\/$/, ""), body));
    } catch (err) {
      portal.showAlert(document.getElementById("new-team-alert"), err.message);
    }
  });

  // Delete a team: the confirm button works once the team's name is typed.
  const deleteModal = document.getElementById("delete-team-modal");
  const typed = document.getElementById("delete-team-typed");
  const confirmButton = document.getElementById("delete-team-confirm");
  let doomed = null;
  document.querySelectorAll(".delete-team").forEach((b) => b.addEventListener("click", () => {
    doomed = b.dataset.team;
    document.getElementById("delete-team-name").textContent = doomed;
    typed.value = "";
    document.getElementById("delete-team-data").checked = false;
    confirmButton.disabled = true;
    bootstrap.Modal.getOrCreateInstance(deleteModal).show();
  }));
  typed.addEventListener("input", () => { confirmButton.disabled = typed.value.trim() !== doomed; });
  confirmButton.addEventListener("click", async () => {
    if (typed.value.trim() !== doomed) return;
    const withData = document.getElementById("delete-team-data").checked;
    bootstrap.Modal.getOrCreateInstance(deleteModal).hide();
    try {
      const r = await portal.request("DELETE", `${api}${encodeURIComponent(doomed)}?delete_data=${withData}`);
      noticeAfterReload(`Team ${doomed} deleted${r.data_deleted ? ", with its data" : "; its bucket is kept"}.`);
    } catch (err) {
      portal.showAlert(pageAlert, err.message);
    }
  });
})();
