// What every portal page shares: JSON calls to the portal API (with the XSRF token that
// JupyterHub's page.html puts in window.jhdata), alerts, elements, and byte sizes for people.
"use strict";

window.portal = (() => {
  async function request(method, url, body) {
    const r = await fetch(url, {
      method, headers: {"Content-Type": "application/json", "X-XSRFToken": window.jhdata.xsrf_token},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({message: r.statusText}));
    if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
    return data;
  }

  // Messages may quote user input: always text, never HTML.
  function showAlert(box, message, kind = "danger") {
    box.textContent = message;
    box.className = `alert alert-${kind}`;
  }

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  // 1536 → "1.5 KiB"
  function human(bytes) {
    if (bytes === null || bytes === undefined) return "";
    let i = 0;
    while (bytes >= 1024 && i < UNITS.length - 1) { bytes /= 1024; i++; }
    return i === 0 ? `${bytes} B` : `${bytes.toFixed(1)} ${UNITS[i]}`;
  }

  // Bytes as the API takes them back, exactly: 34359738368 → "32Gi", 1000 → "1000".
  function quantity(bytes) {
    for (let i = UNITS.length - 1; i > 0; i--) {
      const unit = 1024 ** i;
      if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${UNITS[i][0]}i`;
    }
    return String(bytes);
  }

  // An element with attributes ("class", "on<event>" handlers, others as attributes) and
  // children (nodes, or strings as text: never HTML); null and undefined children are skipped.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  // refresh() for a page that polls: `load` now and every `ms` while the page is visible, one
  // call at a time (a refresh asked for during one runs right after it).
  function poll(load, ms) {
    let timer = null, busy = false, again = false;
    async function refresh() {
      clearTimeout(timer);
      if (busy) { again = true; return; }
      busy = true;
      try { await load(); } finally { busy = false; }
      if (again) { again = false; refresh(); return; }
      if (!document.hidden) timer = setTimeout(refresh, ms);
    }
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(timer);
      else refresh();
    });
    return refresh;
  }

  return {request, showAlert, human, quantity, el, poll};
})();
