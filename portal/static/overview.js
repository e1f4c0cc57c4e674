// The operators' overview: "Edit limits" loads the team's current limits from the API into
// the form; saving sends them in one PATCH (quota, profiles, delete policy) and reloads.
"use strict";

(() => {
  const api = document.getElementById("overview").dataset.api;
  const form = document.getElementById("limits-form");
  const modal = document.getElementById("limits-modal");
  const alertBox = document.getElementById("limits-alert");
  const NUMBERS = ["gpus", "cpu"], SIZES = ["memory", "storage"];
  let team = null;

  async function edit(name) {
    let t;
    try {
      t = await portal.request("GET", api + encodeURIComponent(name));
    } catch (e) {
      portal.showAlert(document.getElementById("overview-alert"), e.message);
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
    const f = new FormData(form), quota = {};
    // an empty field is no limit (null removes it)
    for (const key of NUMBERS) quota[key] = f.get(key) === "" ? null : Number(f.get(key));
    for (const key of SIZES) quota[key] = f.get(key) === "" ? null : /^\d+$/.test(f.get(key)) ? Number(f.get(key)) : f.get(key);
    try {
      await portal.request("PATCH", api + encodeURIComponent(team),
        {quota, profiles: f.getAll("profiles"), delete_policy: f.get("delete_policy")});
      window.location.reload();
    } catch (err) {
      portal.showAlert(alertBox, err.message);
    }
  });
})();
