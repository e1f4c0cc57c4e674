// My sessions: one card per session of the sessions API, newest first, polled every few
// seconds (and when the tab comes back into view) without reloading the page. A starting
// session follows the hub's progress events (an EventSource on its progress_url); a running
// one counts its walltime down here, against the portal's clock. Connect opens the session
// in a new tab; Stop (after a confirmation), Relaunch and Remove call the API.
"use strict";

(() => {
  const {el} = portal;
  const root = document.getElementById("sessions");
  const list = document.getElementById("session-list");
  const alertBox = document.getElementById("sessions-alert");
  const api = root.dataset.api;
  const POLL_MS = Number(root.dataset.pollMs) || 3000;
  const BADGES = {starting: "text-bg-info", running: "text-bg-success", stopping: "text-bg-warning",
                  completed: "text-bg-secondary"};
  const cards = new Map();    // name → {key, node}: a card is redrawn only when its session changed
  const streams = new Map();  // name → {source, progress, message}: a starting session's progress
  let skew = 0;               // the portal's clock minus this one's, from the Date header
  // Hub logins take cookie-authenticated API calls only with the page's XSRF token: in a
  // header where a script sends one, in the URL for an EventSource (as the hub's own spawn page).
  const xsrf = window.jhdata.xsrf_token;

  const now = () => Date.now() + skew;

  // 5000 s → "1 h 23 min"; under a minute: "less than a minute".
  function duration(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "less than a minute";
    const h = Math.floor(minutes / 60), m = minutes % 60;
    return h ? (m ? `${h} h ${m} min` : `${h} h`) : `${m} min`;
  }

  function timeLeft(endsAt) {
    const left = Date.parse(endsAt) - now();
    return left > 0 ? `ends in ${duration(left)}` : "walltime reached";
  }

  function when(iso) {
    const t = new Date(iso);
    return el("time", {datetime: iso, title: t.toISOString()}, t.toLocaleString());
  }

  function icon(name) {
    const template = document.querySelector(`template.app-icon-template[data-icon="${CSS.escape(name || "app")}"]`)
      || document.querySelector('template.app-icon-template[data-icon="app"]');
    return template.content.firstElementChild.cloneNode(true);
  }

  function sessionUrl(item, tail = "") {
    return `${api}/${encodeURIComponent(item.name)}${tail}`;
  }

  // --- actions ---------------------------------------------------------------------------

  async function act(button, method, url) {
    const buttons = button.closest(".card").querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await portal.request(method, url);
      alertBox.className = "alert d-none";
    } catch (e) {
      portal.showAlert(alertBox, e.message);
      buttons.forEach((b) => { b.disabled = false; });
    }
    refresh();
  }

  const stopModal = document.getElementById("stop-modal");
  let stopping = null;
  function askStop(item, button) {
    stopping = {item, button};
    document.getElementById("stop-name").textContent = `${item.app_name} (${item.name})`;
    bootstrap.Modal.getOrCreateInstance(stopModal).show();
  }
  document.getElementById("stop-confirm").addEventListener("click", () => {
    bootstrap.Modal.getOrCreateInstance(stopModal).hide();
    if (stopping) act(stopping.button, "DELETE", sessionUrl(stopping.item));
    stopping = null;
  });

  // --- progress of a starting session ----------------------------------------------------

  function drawProgress(name) {
    const stream = streams.get(name), node = cards.get(name)?.node;
    const box = node?.querySelector(".session-progress");
    if (!stream || !box) return;
    const pct = Math.max(0, Math.min(100, Number(stream.progress) || 0));
    const bar = box.querySelector(".progress-bar");
    bar.style.width = `${pct}%`;
    box.querySelector(".progress").setAttribute("aria-valuenow", String(pct));
    box.querySelector(".progress-message").textContent = stream.message || "Waiting for the server…";
  }

  function follow(item) {
    if (streams.has(item.name) || !item.progress_url) return;
    const url = new URL(item.progress_url, window.location.href);
    url.searchParams.set("_xsrf", xsrf);
    const stream = {source: new EventSource(url), progress: 0, message: ""};
    streams.set(item.name, stream);
    stream.source.onmessage = (e) => {
      let event;
      try { event = JSON.parse(e.data); } catch (err) { return; }
      if (typeof event.progress === "number") stream.progress = event.progress;
      if (typeof event.message === "string") stream.message = event.message;
      drawProgress(item.name);
      if (event.ready || event.failed) {
        unfollow(item.name, false);
        refresh();
      }
    };
    // The stream ended or broke: the next poll opens another if the session still starts.
    stream.source.onerror = () => unfollow(item.name, true);
  }

  function unfollow(name, forget) {
    const stream = streams.get(name);
    if (!stream) return;
    stream.source.close();
    if (forget) streams.delete(name);
    else stream.source = {close() {}};  // keep the last message until the card changes state
  }

  // --- cards -----------------------------------------------------------------------------

  function card(item) {
    const state = item.state;
    const what = item.profile || item.image;
    const body = el("div", {class: "card-body"},
      el("div", {class: "d-flex align-items-start gap-2 mb-2"},
        el("span", {class: "text-primary flex-shrink-0"}, icon(item.icon)),
        el("div", {class: "flex-grow-1 text-break"},
          el("h2", {class: "h6 card-title mb-0 session-app"}, item.app_name || item.app),
          el("div", {class: "small text-body-secondary session-name"}, item.name)),
        el("span", {class: `badge ${BADGES[state] || "text-bg-secondary"} session-state`}, state)),
      el("dl", {class: "row small mb-0 session-facts"},
        el("dt", {class: "col-4 fw-normal text-body-secondary"}, "Team"),
        el("dd", {class: "col-8 mb-1 session-team"}, item.team),
        what ? el("dt", {class: "col-4 fw-normal text-body-secondary"}, item.profile ? "Profile" : "Image") : null,
        what ? el("dd", {class: "col-8 mb-1 text-break session-profile"}, what) : null,
        item.host ? el("dt", {class: "col-4 fw-normal text-body-secondary"}, "Host") : null,
        item.host ? el("dd", {class: "col-8 mb-1 text-break session-host"}, item.host) : null,
        el("dt", {class: "col-4 fw-normal text-body-secondary"}, "Created"),
        el("dd", {class: "col-8 mb-1 session-created"}, item.created ? when(item.created) : ""),
        item.hours ? el("dt", {class: "col-4 fw-normal text-body-secondary"}, "Walltime") : null,
        item.hours ? el("dd", {class: "col-8 mb-1 session-hours"}, `${item.hours} h`) : null),
      state === "running" && item.ends_at
        ? el("p", {class: "small mb-0 mt-1 session-time-left", "data-ends-at": item.ends_at}, timeLeft(item.ends_at))
        : null,
      state === "starting"
        ? el("div", {class: "session-progress mt-2"},
          el("div", {class: "progress progress-thin mb-1", role: "progressbar", "aria-label": "Start-up progress",
                     "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0"},
          el("div", {class: "progress-bar progress-bar-striped progress-bar-animated"})),
          el("div", {class: "small text-body-secondary progress-message"}, "Waiting for the server…"))
        : null,
      state === "completed" && item.message
        ? el("p", {class: `small mb-0 mt-1 text-pre-wrap session-message ${item.reason === "failed" ? "text-danger" : "text-body-secondary"}`},
          item.message)
        : null,
      state === "completed" && item.ended
        ? el("p", {class: "small text-body-secondary mb-0 session-ended"}, "Ended ", when(item.ended))
        : null);

    const buttons = [];
    if (state === "running" && item.connect_url) {
      buttons.push(el("a", {class: "btn btn-sm btn-primary session-connect", href: item.connect_url,
                            target: "_blank", rel: "noopener"}, "Connect"));
    }
    if (state === "starting" || state === "running") {
      const stop = el("button", {type: "button", class: "btn btn-sm btn-outline-danger session-stop"}, "Stop");
      stop.addEventListener("click", () => askStop(item, stop));
      buttons.push(stop);
    }
    if (state === "completed") {
      const relaunch = el("button", {type: "button", class: "btn btn-sm btn-primary session-relaunch"}, "Relaunch");
      relaunch.addEventListener("click", () => act(relaunch, "POST", sessionUrl(item, "/relaunch")));
      const remove = el("button", {type: "button", class: "btn btn-sm btn-outline-secondary session-remove"}, "Remove");
      remove.addEventListener("click", () => act(remove, "DELETE", sessionUrl(item)));
      buttons.push(relaunch, remove);
    }
    return el("div", {class: "col"},
      el("div", {class: "card h-100 session-card", "data-session": item.name, "data-state": state},
        body, buttons.length ? el("div", {class: "card-footer d-flex flex-wrap gap-2"}, ...buttons) : null));
  }

  function render(items) {
    document.getElementById("sessions-loading")?.remove();
    document.getElementById("no-sessions").classList.toggle("d-none", items.length > 0);
    const seen = new Set();
    items.forEach((item) => {
      seen.add(item.name);
      const key = JSON.stringify(item);
      let entry = cards.get(item.name);
      if (!entry || entry.key !== key) {
        const node = card(item);
        entry?.node.replaceWith(node);
        entry = {key, node};
        cards.set(item.name, entry);
      }
      list.append(entry.node);  // in the API's order: newest first
      if (item.state === "starting") {
        follow(item);
        drawProgress(item.name);
      } else if (streams.has(item.name)) {
        unfollow(item.name, true);
      }
    });
    for (const [name, entry] of cards) {
      if (!seen.has(name)) {
        entry.node.remove();
        cards.delete(name);
        unfollow(name, true);
      }
    }
    root.dataset.loaded = String(items.length);  // for people and tests: the page has drawn an answer
  }

  async function load() {
    let r, data;
    try {
      r = await fetch(api, {headers: {Accept: "application/json", "X-XSRFToken": xsrf}, cache: "no-store"});
      data = await r.json().catch(() => ({message: r.statusText}));
    } catch (e) {
      portal.showAlert(alertBox, `Could not reach the portal: ${e.message}`, "warning");
      return;
    }
    if (!r.ok) {
      portal.showAlert(alertBox, data.message || `HTTP ${r.status}`);
      return;
    }
    const date = Date.parse(r.headers.get("Date"));
    if (!Number.isNaN(date)) skew = date - Date.now();
    if (alertBox.classList.contains("alert-warning")) alertBox.className = "alert d-none";
    render(data.items || []);
  }

  const refresh = portal.poll(load, POLL_MS);
  setInterval(() => {
    for (const p of list.querySelectorAll(".session-time-left")) p.textContent = timeLeft(p.dataset.endsAt);
  }, 5000);
  refresh();
})();
