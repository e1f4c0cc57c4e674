// The datasets page: browse a team's bucket, upload with presigned multipart parts,
// download, share (and revoke share links), delete, abort unfinished uploads. Bytes go straight between the
// browser and S3; the portal API only lists, checks and signs. Names are always set with
// textContent, never as HTML.
"use strict";

(() => {
  const cfg = JSON.parse(document.getElementById("datasets-config").textContent);
  const PARTS_IN_FLIGHT = 4; // across all files
  const PART_TRIES = 3; // a failed part is sent again this many times before the file stops
  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const prefix = query.get("prefix") || "";
  const pageSize = Math.min(Number(query.get("limit")) || cfg.pageSize, cfg.pageSize); // ?limit= for slow links

  // -- API -------------------------------------------------------------------------
  const api = (method, path, body) => portal.request(method, cfg.api + path, body);
  const q = (params) => "?" + new URLSearchParams(params).toString();
  const showAlert = (message, kind) => portal.showAlert($("datasets-alert"), message, kind);
  const human = portal.human;

  const el = portal.el;

  // -- usage -------------------------------------------------------------------------
  function showUsage(u) {
    const counted = u.bytes !== null;
    const used = counted ? `${u.objects} object${u.objects === 1 ? "" : "s"}, ${human(u.bytes)}` : "usage being counted…";
    $("usage-text").textContent = u.quota ? `${used} of ${human(u.quota)}` : `${used} (no quota)`;
    const pct = counted && u.quota ? Math.min(100, (100 * u.bytes) / u.quota) : 0;
    $("usage-bar").style.width = `${pct}%`;
    $("usage-bar").classList.toggle("bg-danger", pct >= 90);
    usageNow = u;
    showHeld();
  }
  let usageNow = cfg.usage;
  const refreshUsage = () => api("GET", "/usage").then(showUsage).catch(() => {});

  // -- breadcrumb ---------------------------------------------------------------------
  function crumbs() {
    const parts = prefix.split("/").filter(Boolean);
    let path = "";
    for (const part of parts) {
      path += part + "/";
      $("crumbs").append(el("li", {class: "breadcrumb-item"}, el("a", {href: q({prefix: path})}, part)));
    }
  }

  // -- listing ---------------------------------------------------------------------------
  const view = {items: [], next: null, sort: "name", desc: false};

  async function load(more = false) {
    const params = {prefix: prefix + $("filter").value, limit: pageSize};
    if (more) params.start_after = view.next;
    try {
      const page = await api("GET", "/datasets" + q(params));
      view.items = more ? view.items.concat(page.items) : page.items;
      view.next = page.next;
      render();
    } catch (e) {
      showAlert(e.message);
    }
  }

  function sorted() {
    const key = {name: (i) => i.key, size: (i) => i.size ?? -1, date: (i) => i.last_modified ?? ""}[view.sort];
    const items = [...view.items].sort((a, b) => {
      if (a.is_prefix !== b.is_prefix) return a.is_prefix ? -1 : 1; // folders first
      const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (view.desc ? -1 : 1);
    });
    return items;
  }

  function render() {
    const rows = $("rows");
    rows.replaceChildren();
    for (const item of sorted()) {
      const name = item.key.slice(prefix.length);
      const actions = el("td", {class: "text-end text-nowrap"});
      let label;
      if (item.is_prefix) {
        label = el("a", {href: q({prefix: item.key}), class: "folder"}, "📁 ", name);
      } else {
        label = el("span", {class: "file"}, name);
        actions.append(
          el("a", {class: "btn btn-sm btn-outline-primary me-1 download", href: `${cfg.api}/download${q({key: item.key})}`}, "Download"),
          el("button", {class: "btn btn-sm btn-outline-secondary me-1 share", type: "button", onclick: () => openShare(item.key)}, "Share"));
      }
      if (cfg.canDelete) {
        actions.append(el("button", {class: "btn btn-sm btn-outline-danger delete", type: "button",
          onclick: () => openDelete(item.key)}, "Delete"));
      }
      const when = item.last_modified ? new Date(item.last_modified).toLocaleString() : "";
      const row = el("tr", {}, el("td", {class: "text-break"}, label), el("td", {class: "text-end"}, human(item.size)),
        el("td", {}, when), actions);
      row.dataset.key = item.key;
      rows.append(row);
    }
    $("empty").classList.toggle("d-none", view.items.length > 0);
    $("more").classList.toggle("d-none", !view.next);
    document.querySelectorAll(".sort").forEach((b) => {
      b.textContent = b.textContent.replace(/ [▲▼]$/, "") + (b.dataset.sort === view.sort ? (view.desc ? " ▼" : " ▲") : "");
    });
  }

  // -- share and delete -------------------------------------------------------------------
  let shareKey = null;
  function openShare(key) {
    shareKey = key;
    $("share-key").textContent = key;
    $("share-result").classList.add("d-none");
    bootstrap.Modal.getOrCreateInstance($("share-modal")).show();
  }
  $("share-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const seconds = Math.round(Number(f.get("amount")) * Number(f.get("unit")));
    if (seconds > cfg.maxShare) { showAlert("A share link may last at most 7 days."); return; }
    try {
      const share = await api("POST", "/shares", {key: shareKey, expires_in: seconds});
      $("share-url").value = share.url;
      $("share-expires").textContent = new Date(share.expires_at).toLocaleString();
      $("share-result").classList.remove("d-none");
      loadShares();
    } catch (err) {
      showAlert(err.message);
    }
  });
  $("share-copy").addEventListener("click", () => navigator.clipboard?.writeText($("share-url").value));

  // -- share links ----------------------------------------------------------------------------
  // The team's active share links (GET /shares), newest first. The one who made a link, team
  // admins and operators may revoke it; the link then answers a "revoked" page at once.
  async function loadShares() {
    let page;
    try {
      page = await api("GET", "/shares" + q({limit: cfg.pageSize}));
    } catch (e) {
      return; // the listing and its alert are what matter on this page
    }
    $("share-list").replaceChildren(...page.items.map(shareRow));
    $("shares").classList.toggle("d-none", !page.items.length);
    const more = page._pagination.total - page.items.length;
    $("shares-more").textContent = more > 0 ? `and ${more} more` : "";
  }

  function shareRow(s) {
    const row = el("li", {class: "list-group-item px-0 d-flex align-items-center gap-2 share-link"},
      el("div", {class: "small text-break me-auto"},
        el("span", {class: "fw-semibold share-link-key"}, s.key), " ",
        el("span", {class: "text-body-secondary"},
          `by ${s.created_by} · expires ${new Date(s.expires_at).toLocaleString()}`), " ",
        el("a", {class: "share-link-url", href: s.url, rel: "noreferrer"}, "link")));
    if (s.created_by === cfg.user || cfg.manageShares) {
      row.append(el("button", {class: "btn btn-sm btn-outline-danger revoke", type: "button",
        onclick: () => revokeShare(s)}, "Revoke"));
    }
    row.dataset.key = s.key;
    row.dataset.id = s.id;
    return row;
  }

  async function revokeShare(s) {
    try {
      await api("DELETE", `/shares/${encodeURIComponent(s.id)}`);
      showAlert(`Revoked the link to ${s.key}`, "success");
    } catch (e) {
      showAlert(e.message);
    }
    loadShares();
  }

  let deleteKey = null;
  function openDelete(key) {
    deleteKey = key;
    $("delete-key").textContent = key;
    $("delete-folder-warning").classList.toggle("d-none", !key.endsWith("/"));
    bootstrap.Modal.getOrCreateInstance($("delete-modal")).show();
  }
  $("delete-confirm").addEventListener("click", async () => {
    bootstrap.Modal.getOrCreateInstance($("delete-modal")).hide();
    try {
      const folder = deleteKey.endsWith("/");
      const done = await api("DELETE", "/datasets" + q(folder ? {key: deleteKey, recursive: "true"} : {key: deleteKey}));
      showAlert(folder ? `Deleted ${deleteKey} and the ${done.objects} objects in it (${human(done.bytes)})`
                       : `Deleted ${deleteKey}`, "success");
      await load();
      refreshUsage();
    } catch (e) {
      showAlert(e.message);
    }
  });

  // -- uploads ------------------------------------------------------------------------------
  // A file goes through: waiting → starting (POST /uploads) → sending parts → completing →
  // done; or failed (a part failed PART_TRIES times, or the API refused) → retry; or
  // cancelled (its multipart upload is aborted, so S3 keeps no parts).
  const uploads = [];
  let inFlight = 0, starting = false;

  function addFile(file, relativePath) {
    const up = {file, key: prefix + relativePath, state: "waiting", info: null, queue: [], failed: [],
      retrying: 0, tries: new Map(), etags: new Map(), loaded: new Map(), xhrs: new Set()};
    const bar = el("div", {class: "progress-bar"});
    up.status = el("span", {class: "small text-body-secondary ms-2 status"}, "waiting");
    up.cancelBtn = el("button", {class: "btn btn-sm btn-link text-danger p-0 ms-2 cancel", type: "button",
      onclick: () => cancel(up)}, "Cancel");
    up.retryBtn = el("button", {class: "btn btn-sm btn-link p-0 ms-2 retry d-none", type: "button",
      onclick: () => retry(up)}, "Retry");
    up.bar = bar;
    up.row = el("li", {class: "list-group-item px-0 upload"},
      el("div", {class: "d-flex small"}, el("span", {class: "text-truncate upload-name"}, up.key), up.status,
        el("span", {class: "ms-auto"}, up.retryBtn, up.cancelBtn)),
      el("div", {class: "progress progress-thin", role: "progressbar", "aria-label": up.key}, bar));
    up.row.dataset.key = up.key;
    $("upload-list").append(up.row);
    $("uploads").classList.remove("d-none");
    uploads.push(up);
  }

  function setState(up, state, text) {
    up.state = state;
    up.row.dataset.state = state;
    up.status.textContent = text || state;
    up.retryBtn.classList.toggle("d-none", state !== "failed");
    up.cancelBtn.classList.toggle("d-none", ["done", "cancelled", "completing"].includes(state));
    up.bar.classList.toggle("bg-danger", state === "failed");
    up.bar.classList.toggle("bg-success", state === "done");
  }

  // Bytes of the parts S3 has acknowledged (a part counts once its PUT succeeded): the one
  // number behind both the text and the bar, so they agree and never go backwards when a
  // part is sent again.
  function acknowledged(up) {
    if (up.state === "done") return up.file.size;
    let total = 0;
    for (const v of up.loaded.values()) total += v;
    return total;
  }

  const percent = (done, total) => (total ? Math.floor((100 * done) / total) : 100);

  // Text, width and aria-valuenow of a bar from one (done, total), in the same frame; the
  // bar has no width transition, so what is drawn is what the text says.
  function drawProgress(bar, text, done, total) {
    const pct = percent(done, total);
    bar.style.transition = "none";
    bar.style.width = `${pct}%`;
    bar.parentElement.setAttribute("aria-valuenow", String(pct));
    text.textContent = `${human(done)} of ${human(total)} (${pct}%)`;
  }

  function progress() {
    let total = 0, done = 0;
    for (const up of uploads) {
      if (up.state === "cancelled") continue;
      const bytes = acknowledged(up);
      total += up.file.size;
      done += bytes;
      if (["sending", "completing", "done"].includes(up.state)) drawProgress(up.bar, up.status, bytes, up.file.size);
      if (up.state === "completing") up.status.append(" · completing");  // S3 assembles the parts
    }
    drawProgress($("total-progress"), $("total-text"), done, total);
  }

  function pump() {
    for (const up of uploads) {
      while (up.state === "sending" && up.queue.length && inFlight < PARTS_IN_FLIGHT) sendPart(up, up.queue.shift());
    }
    if (!starting && inFlight < PARTS_IN_FLIGHT) {
      const next = uploads.find((u) => u.state === "waiting");
      if (next) start(next);
    }
  }

  async function start(up) {
    starting = true;
    setState(up, "starting");
    try {
      up.info = await api("POST", "/uploads", {key: up.key, size: up.file.size});
      if (up.state === "cancelled") { abort(up); return; }
      up.queue = up.info.parts.slice();
      setState(up, "sending");
      progress();
      scheduleUnfinished();
    } catch (e) {
      if (up.state !== "cancelled") setState(up, "failed", e.message);
    } finally {
      starting = false;
      pump();
    }
  }

  function sendPart(up, part) {
    const attempt = (up.tries.get(part.number) || 0) + 1;
    up.tries.set(part.number, attempt);
    inFlight++;
    const begin = (part.number - 1) * up.info.part_size;
    const blob = up.file.slice(begin, Math.min(begin + up.info.part_size, up.file.size));
    const xhr = new XMLHttpRequest();
    up.xhrs.add(xhr);
    xhr.open("PUT", part.url);
    const finish = (ok) => {
      inFlight--;
      up.xhrs.delete(xhr);
      if (up.state === "sending") {
        up.loaded.set(part.number, ok ? blob.size : 0);
        if (ok) up.etags.set(part.number, xhr.getResponseHeader("ETag"));
        if (!ok && attempt < PART_TRIES) {
          up.retrying++;
          setTimeout(() => { up.retrying--; up.queue.unshift(part); pump(); }, 1000 * 2 ** attempt);
        } else if (!ok) {
          up.failed.push(part);
        }
        settle(up);
        progress();
      }
      pump();
    };
    xhr.onload = () => finish(xhr.status >= 200 && xhr.status < 300);
    xhr.onerror = () => finish(false);
    xhr.onabort = () => finish(false);
    xhr.send(blob);
  }

  // When nothing of a file is queued, in flight or waiting to be sent again: complete it,
  // or mark it failed so that Retry sends only the parts that failed.
  function settle(up) {
    if (up.state !== "sending" || up.queue.length || up.xhrs.size || up.retrying) return;
    if (!up.failed.length) complete(up);
    else setState(up, "failed", `part(s) ${up.failed.map((p) => p.number).join(", ")} failed ${PART_TRIES} times`);
  }

  async function complete(up) {
    setState(up, "completing");
    try {
      // The ETags S3 returned name the exact parts to assemble (readable through CORS).
      const parts = [...up.etags].map(([number, etag]) => ({number, etag}));
      await api("POST", `/uploads/${up.info.id}/complete`, parts.every((p) => p.etag) ? {parts} : undefined);
      setState(up, "done");
      progress();
      scheduleReload();
    } catch (e) {
      setState(up, "failed", e.message);
    }
  }

  function retry(up) {
    if (!up.info) { setState(up, "waiting"); pump(); return; }
    // Only the parts that failed go again; the others are already in S3.
    up.queue = up.failed.concat(up.queue);
    up.failed = [];
    up.tries.clear();
    setState(up, "sending");
    settle(up);
    pump();
  }

  function abort(up) {
    if (up.info) api("DELETE", `/uploads/${up.info.id}`).catch((e) => showAlert(e.message)).finally(loadUnfinished);
  }

  function cancel(up) {
    const wasStarting = up.state === "starting";
    setState(up, "cancelled");
    for (const xhr of up.xhrs) xhr.abort();
    up.queue = [];
    if (!wasStarting) abort(up); // a starting upload is aborted once its id arrives
    progress();
    pump();
  }

  let unfinishedTimer = null;
  function scheduleUnfinished() {
    clearTimeout(unfinishedTimer);
    unfinishedTimer = setTimeout(loadUnfinished, 500);
  }

  let reloadTimer = null;
  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => { load(); refreshUsage(); loadUnfinished(); }, 300);
  }

  // -- unfinished uploads -----------------------------------------------------------------------
  // Uploads started earlier, in another window or in a tab since closed hold their size of the
  // storage quota until they are completed, cancelled or dropped by the portal. The API lists
  // the ones the caller may cancel: their own, or every member's for team admins. This page's
  // own live uploads are left out of the list (they have their Cancel button above) but not
  // out of the storage held, shown beside the usage.
  const held = {bytes: 0, count: 0, more: false};

  async function loadUnfinished() {
    let page;
    try {
      page = await api("GET", "/uploads" + q({limit: cfg.pageSize}));
    } catch (e) {
      return; // the listing and its alert are what matter on this page
    }
    const live = new Set(uploads.filter((u) => u.info && !["done", "cancelled"].includes(u.state)).map((u) => u.info.id));
    const items = page.items.filter((u) => !live.has(u.id));
    $("unfinished-list").replaceChildren(...items.map(unfinishedRow));
    $("unfinished").classList.toggle("d-none", !items.length);
    const more = page._pagination.total - page.items.length;
    $("unfinished-more").textContent = more > 0 ? `and ${more} more` : "";
    held.bytes = page.items.reduce((sum, u) => sum + u.size, 0);
    held.count = page.items.length;
    held.more = more > 0;
    showHeld();
  }

  // The storage held by unfinished uploads, beside the usage: text, and a second segment of
  // the usage bar (it counts against the quota as stored bytes do).
  function showHeld() {
    const box = $("usage-held");
    box.classList.toggle("d-none", !held.count);
    box.textContent = held.count
      ? `+ ${held.more ? "at least " : ""}${human(held.bytes)} held by ${held.count} upload${held.count === 1 ? "" : "s"} in progress`
      : "";
    const u = usageNow;
    const used = u.bytes !== null && u.quota ? Math.min(100, (100 * u.bytes) / u.quota) : 0;
    const pct = u.quota ? Math.min(100 - used, (100 * held.bytes) / u.quota) : 0;
    $("usage-held-bar").style.width = `${held.count ? pct : 0}%`;
  }

  function unfinishedRow(u) {
    const when = (iso) => new Date(iso).toLocaleString();
    const row = el("li", {class: "list-group-item px-0 d-flex align-items-center gap-2 unfinished"},
      el("div", {class: "small text-break me-auto"},
        el("span", {class: "fw-semibold unfinished-key"}, u.key), " ",
        el("span", {class: "text-body-secondary"}, "started by ", el("span", {class: "unfinished-user"}, u.user),
          ` ${when(u.created_at)} · holds `, el("span", {class: "unfinished-size"}, human(u.size)),
          ` · last part ${when(u.last_activity_at)}`), el("br"),
        el("span", {class: "text-body-secondary unfinished-expiry"},
          `The portal drops it at ${when(u.idle_expires_at)} unless a part arrives before.`)),
      el("button", {class: "btn btn-sm btn-outline-danger abort", type: "button", onclick: () => abortUnfinished(u)}, "Cancel"));
    row.dataset.id = u.id;
    row.dataset.key = u.key;
    row.dataset.user = u.user;
    row.dataset.size = String(u.size);
    return row;
  }

  async function abortUnfinished(u) {
    try {
      await api("DELETE", `/uploads/${encodeURIComponent(u.id)}`);
      showAlert(`Cancelled the upload of ${u.key} (${human(u.size)} released)`, "success");
    } catch (e) {
      showAlert(e.message);
    }
    loadUnfinished();
  }

  function enqueue(files) {
    for (const [file, path] of files) addFile(file, path);
    progress();
    pump();
  }

  // Folders dropped on the page: walk them with the File System entries API.
  async function walk(entry, out) {
    if (entry.isFile) {
      out.push([await new Promise((ok, fail) => entry.file(ok, fail)), entry.fullPath.replace(/^\//, "")]);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
        if (!batch.length) break;
        for (const child of batch) await walk(child, out);
      }
    }
  }

  // -- wiring ---------------------------------------------------------------------------------
  $("file-input").addEventListener("change", (e) => {
    enqueue([...e.target.files].map((f) => [f, f.name]));
    e.target.value = "";
  });
  $("folder-input").addEventListener("change", (e) => {
    enqueue([...e.target.files].map((f) => [f, f.webkitRelativePath || f.name]));
    e.target.value = "";
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("border-primary"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("border-primary"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("border-primary");
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    const files = [];
    if (entries.length) for (const entry of entries) await walk(entry, files);
    else for (const f of e.dataTransfer.files) files.push([f, f.name]);
    enqueue(files);
  });
  $("folder-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = new FormData(e.target).get("name").replace(/^\/+|\/+$/g, "");
    try {
      await api("POST", "/folders", {key: prefix + name + "/"});
      e.target.reset();
      load();
    } catch (err) {
      showAlert(err.message);
    }
  });
  let filterTimer = null;
  $("filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(() => load(), 300); });
  $("refresh").addEventListener("click", () => { load(); refreshUsage(); loadUnfinished(); });
  $("more").addEventListener("click", () => load(true));
  document.querySelectorAll(".sort").forEach((b) => b.addEventListener("click", () => {
    view.desc = view.sort === b.dataset.sort ? !view.desc : false;
    view.sort = b.dataset.sort;
    render();
  }));
  window.addEventListener("beforeunload", (e) => {
    if (uploads.some((u) => ["starting", "sending", "completing"].includes(u.state))) e.preventDefault();
  });

  crumbs();
  showUsage(cfg.usage);
  load();
  loadUnfinished();
  loadShares();
})();
