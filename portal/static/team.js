// The team page: a team admin renames the team and adds and removes members (after a
// confirmation); an operator also makes and unmakes team admins. Limits are shown
// read-only: only operators set them, on the overview.
"use strict";

(() => {
  const api = document.getElementById("team").dataset.api;
  const alertBox = document.getElementById("team-alert");

  async function act(method, url, body) {
    try {
      await portal.request(method, url, body);
      window.location.reload();
    } catch (e) {
      portal.showAlert(alertBox, e.message);
    }
  }

  document.getElementById("name-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    act("PATCH", api, {display_name: new FormData(e.target).get("display_name")});
  });
  document.getElementById("member-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    act("PUT", `${api}/members/${encodeURIComponent(new FormData(e.target).get("user").trim())}`);
  });

  // Operators only: make or unmake a team admin (the team's `admins`, kept by the portal).
  document.querySelectorAll(".set-admin").forEach((button) => button.addEventListener("click", () => {
    act("PUT", `${api}/members/${encodeURIComponent(button.dataset.user)}`, {admin: button.dataset.admin === "true"});
  }));

  const modal = document.getElementById("remove-modal");
  let removing = null;
  document.querySelectorAll(".remove-member").forEach((button) => button.addEventListener("click", () => {
    removing = button.dataset.user;
    document.getElementById("remove-user").textContent = removing;
    bootstrap.Modal.getOrCreateInstance(modal).show();
  }));
  document.getElementById("remove-confirm")?.addEventListener("click", () => {
    bootstrap.Modal.getOrCreateInstance(modal).hide();
    act("DELETE", `${api}/members/${encodeURIComponent(removing)}`);
  });
})();
