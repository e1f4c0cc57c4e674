// SSH keys page: add a key (POST) and delete one (DELETE) through the portal API, then reload
// the list; the API's refusal (a malformed or weak key, one already registered) is shown as is.
"use strict";

(() => {
  const list = document.getElementById("ssh-key-list");
  const alertBox = document.getElementById("ssh-keys-alert");
  const api = list.dataset.api;

  document.getElementById("ssh-key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("ssh-key-input");
    const button = document.getElementById("ssh-key-add");
    button.disabled = true;
    try {
      await portal.request("POST", api, {key: input.value});
      window.location.reload();
    } catch (e) {
      portal.showAlert(alertBox, e.message);
      button.disabled = false;
    }
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest(".ssh-key-delete");
    if (!button) return;
    const item = button.closest(".ssh-key");
    const what = item.querySelector(".ssh-key-comment").textContent || item.querySelector(".ssh-key-fingerprint").textContent;
    if (!window.confirm(`Delete the key ${what}? It can no longer log in.`)) return;
    button.disabled = true;
    try {
      const r = await fetch(`${api}/${encodeURIComponent(item.dataset.id)}`, {
        method: "DELETE", headers: {"X-XSRFToken": window.jhdata.xsrf_token}});
      if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || `HTTP ${r.status}`);
      item.remove();
      alertBox.className = "alert d-none";
    } catch (e) {
      portal.showAlert(alertBox, e.message);
      button.disabled = false;
    }
  });
})();
