// The promotions page: a team's GitLab projects, their branches, commits and tags; promoting
// a commit to a version (the pipeline builds the prod image), following a promotion live,
// and starting a successful one as a prod server. Names are always set with textContent,
// never as HTML.
"use strict";

(() => {
  const cfg = JSON.parse(document.getElementById("promotions-config").textContent);
  const POLL_MS = 1500; // while the shown promotion is pending or running
  const RETRY_MS = 5000; // after a failed poll
  const HIDDEN_STOP_MS = 5 * 60 * 1000; // a tab hidden this long stops polling until shown again
  const FINISHED = ["success", "failed", "error"];
  const $ = (id) => document.getElementById(id);

  // -- API and small helpers -----------------------------------------------------------
  const api = (method, path, body) => portal.request(method, cfg.api + path, body);
  const q = (params) => "?" + new URLSearchParams(params).toString();
  const showAlert = (message, kind) => portal.showAlert($("promotions-alert"), message, kind);
  const clearAlert = () => $("promotions-alert").classList.add("d-none");

  const el = portal.el;

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(seconds);
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  }

  // Promotion, job and check statuses → Bootstrap badge colours.
  const BADGE = {
    pending: "secondary", created: "secondary", waiting_for_resource: "secondary", preparing: "secondary",
    scheduled: "secondary", manual: "secondary", skipped: "light", canceled: "warning",
    running: "info", success: "success", passed: "success", failed: "danger", error: "danger", "not run": "secondary",
  };
  function badge(node, status) {
    node.textContent = status || "";
    node.classList.remove(...[...node.classList].filter((c) => c.startsWith("text-bg-")));
    node.classList.add("badge", `text-bg-${BADGE[status] || "secondary"}`);
    return node;
  }

  const imageRef = (p) => (p.image && p.digest ? `${p.image}@${p.digest}` : "");

  // `prod-v1-2-0` for v1.2.0: a JupyterHub named server (lowercase, starts with a letter,
  // at most 30 characters, no "--"); null when the version gives no such name.
  function prodServer(version) {
    const name = "prod-" + String(version).toLowerCase().replace(/\./g, "-");
    return /^[a-z][a-z0-9-]{0,29}$/.test(name) && !name.includes("--") ? name : null;
  }

  // -- where we are (kept in the address, so a reload shows the same) ---------------------
  const state = {projects: [], project: null, promotions: [], total: 0, next: null, shown: null};

  function remember() {
    const params = new URLSearchParams();
    if (state.project) params.set("project", state.project.id);
    if (state.shown) params.set("promotion", state.shown.id);
    const search = params.toString();
    history.replaceState(null, "", search ? `?${search}` : location.pathname);
  }

  // -- projects ------------------------------------------------------------------------------
  async function loadProjects() {
    try {
      const found = await api("GET", "/projects");
      state.projects = found.items;
      cfg.mayPromote = found.may_promote;
      $("gitlab-group").textContent = `GitLab group ${found.gitlab_group}`;
      renderProjects();
      return true;
    } catch (e) {
      showAlert(e.message);
      return false;
    }
  }

  function renderProjects() {
    const list = $("projects");
    list.replaceChildren();
    for (const p of state.projects) {
      const item = el("button", {class: "list-group-item list-group-item-action", type: "button",
        onclick: () => chooseProject(p.id)},
      el("div", {class: "fw-semibold text-break project-name"}, p.name),
      el("div", {class: "small text-body-secondary text-break"}, p.path),
      p.description ? el("div", {class: "small text-break"}, p.description) : null);
      item.dataset.projectId = p.id;
      item.classList.toggle("active", state.project !== null && state.project.id === p.id);
      list.append(item);
    }
    $("projects-empty").classList.toggle("d-none", state.projects.length > 0);
  }

  async function chooseProject(id, ref) {
    clearAlert();
    let found;
    try {
      found = await api("GET", `/projects/${encodeURIComponent(id)}` + (ref ? q({ref}) : ""));
    } catch (e) {
      showAlert(e.message);
      return;
    }
    const sameProject = state.project && state.project.id === found.id;
    const picked = sameProject ? pickedCommit() : null;
    const typed = $("version").value;
    const suggested = sameProject ? state.project.suggested_version : null;
    state.project = found;
    if (!sameProject) {
      $("release-notes").value = "";
      $("setup-result").classList.add("d-none");
    }
    renderProject(picked);
    // Keep a version someone typed; replace an old suggestion with the new one.
    $("version").value = sameProject && typed && typed !== suggested ? typed : found.suggested_version;
    document.querySelectorAll("#projects [data-project-id]").forEach((b) => {
      b.classList.toggle("active", Number(b.dataset.projectId) === found.id);
    });
    $("pick-project").classList.add("d-none");
    $("project").classList.remove("d-none");
    $("history").classList.remove("d-none");
    if (!sameProject) {
      state.promotions = [];
      state.total = 0;
      if (state.shown && state.shown.project_id !== found.id) closePromotion();
      await loadPromotions();
    }
    remember();
  }

  function renderProject(picked) {
    const p = state.project;
    $("project-name").textContent = p.name;
    $("project-name").href = p.web_url;
    $("project-path").textContent = p.path;

    const branch = $("branch");
    branch.replaceChildren(...p.branches.map((b) => el("option", {value: b}, b)));
    branch.value = p.ref;

    const rows = $("commits").tBodies[0];
    rows.replaceChildren();
    const keep = p.commits.some((c) => c.sha === picked) ? picked : p.commits[0] && p.commits[0].sha;
    const tagged = {};
    for (const t of p.tags) (tagged[t.commit] ||= []).push(t.name);
    for (const c of p.commits) {
      const radio = el("input", {class: "form-check-input", type: "radio", name: "commit", value: c.sha,
        "aria-label": `promote ${c.short_sha}`, onchange: showPicked});
      radio.checked = c.sha === keep;
      const title = el("td", {class: "text-break"}, c.title);
      for (const name of tagged[c.sha] || []) title.append(" ", el("span", {class: "badge text-bg-light border"}, name));
      title.title = c.message;
      const row = el("tr", {}, el("td", {}, radio), el("td", {}, el("code", {}, c.short_sha)), title,
        el("td", {class: "text-break"}, c.author), el("td", {class: "text-nowrap small"}, when(c.date)));
      row.dataset.sha = c.sha;
      row.addEventListener("click", (ev) => {
        if (ev.target !== radio) { radio.checked = true; showPicked(); }
      });
      rows.append(row);
    }
    if (!p.commits.length) rows.append(el("tr", {}, el("td", {colspan: "5", class: "text-body-secondary"}, "No commits on this branch.")));

    const tags = $("tags");
    tags.replaceChildren();
    for (const t of p.tags) {
      const item = el("li", {}, el("span", {class: "badge text-bg-light border"}, t.name), " ",
        el("code", {}, t.commit.slice(0, 8)));
      if (t.message) item.append(" ", el("span", {class: "text-body-secondary"}, t.message));
      item.dataset.tag = t.name;
      tags.append(item);
    }
    if (!p.tags.length) tags.append(el("li", {class: "text-body-secondary"}, "No versions yet."));

    const mayPromote = p.may_promote && cfg.mayPromote;
    $("setup-box").classList.toggle("d-none", p.set_up);
    $("promote-form").classList.toggle("d-none", !(mayPromote && p.set_up && p.commits.length > 0));
    showPicked();
  }

  function pickedCommit() {
    const radio = document.querySelector("#commits input[name=commit]:checked");
    return radio ? radio.value : null;
  }

  function showPicked() {
    const sha = pickedCommit();
    const c = state.project && state.project.commits.find((x) => x.sha === sha);
    $("promote-commit").textContent = c ? c.short_sha : "";
    $("promote-title").textContent = c ? c.title : "";
    document.querySelectorAll("#commits tr[data-sha]").forEach((r) => r.classList.toggle("table-active", r.dataset.sha === sha));
  }

  // -- set-up merge request ---------------------------------------------------------------
  async function setUp() {
    const button = $("setup");
    button.disabled = true;
    try {
      const mr = await api("POST", `/projects/${state.project.id}/setup`);
      $("setup-link").textContent = `!${mr.iid} ${mr.title}`;
      $("setup-link").href = mr.web_url;
      badge($("setup-state"), mr.state);
      $("setup-result").classList.remove("d-none");
      showAlert(mr.created ? "Merge request opened: merge it in GitLab, then refresh." :
        "The set-up merge request is already open: merge it in GitLab, then refresh.", "info");
    } catch (e) {
      showAlert(e.message);
    } finally {
      button.disabled = false;
    }
  }

  // -- promoting ---------------------------------------------------------------------------
  async function promote(ev) {
    ev.preventDefault();
    clearAlert();
    const sha = pickedCommit();
    const version = $("version").value.trim();
    if (!sha) { showAlert("Choose the commit to promote."); return; }
    if (!/^v\d+\.\d+\.\d+$/.test(version)) {
      showAlert(`Version ${JSON.stringify(version)} is not vMAJOR.MINOR.PATCH (e.g. v1.4.0).`);
      $("version").focus();
      return;
    }
    const button = $("promote");
    button.disabled = true;
    try {
      const record = await api("POST", "/promotions",
        {project_id: state.project.id, commit: sha, version, release_notes: $("release-notes").value});
      $("release-notes").value = "";
      $("version").value = ""; // taken now: the project's next suggestion replaces it when this one finishes
      upsertPromotion(record);
      openPromotion(record);
    } catch (e) {
      showAlert(e.message);
      // A version promoted already: show that promotion, when this project has one.
      const existing = state.promotions.find((p) => p.version === version);
      if (existing) openPromotion(existing);
    } finally {
      button.disabled = false;
    }
  }

  // -- the project's promotions ----------------------------------------------------------------
  async function loadPromotions(more = false) {
    const project = state.project;
    const params = {project_id: project.id, limit: cfg.pageSize, offset: more ? state.promotions.length : 0};
    try {
      const page = await api("GET", "/promotions" + q(params));
      if (!state.project || state.project.id !== project.id) return;
      const known = new Set(more ? state.promotions.map((p) => p.id) : []);
      state.promotions = (more ? state.promotions : []).concat(page.items.filter((p) => !known.has(p.id)));
      state.next = page._pagination.next;
      state.total = page._pagination.total;
      renderPromotions();
    } catch (e) {
      showAlert(e.message);
    }
  }

  function upsertPromotion(record) {
    const i = state.promotions.findIndex((p) => p.id === record.id);
    if (i >= 0) state.promotions[i] = record;
    else if (state.project && record.project_id === state.project.id) {
      state.promotions.unshift(record);
      state.total += 1;
    }
    renderPromotions();
  }

  function renderPromotions() {
    const rows = $("promotions").tBodies[0];
    rows.replaceChildren();
    for (const p of state.promotions) {
      const ref = imageRef(p);
      const row = el("tr", {class: "promotion-row"},
        el("td", {}, el("a", {href: `?${new URLSearchParams({project: p.project_id, promotion: p.id})}`,
          class: "promotion-version", onclick: (ev) => { ev.preventDefault(); openPromotion(p); }}, p.version)),
        el("td", {}, el("code", {}, p.commit.slice(0, 8))),
        el("td", {class: "text-nowrap"}, p.created_by),
        el("td", {class: "text-nowrap small"}, when(p.created_at)),
        el("td", {}, badge(el("span"), p.status)),
        el("td", {class: "text-break small"}, ref ? el("code", {class: "image-ref"}, ref) : ""));
      row.dataset.promotionId = p.id;
      row.classList.toggle("table-active", state.shown !== null && state.shown.id === p.id);
      rows.append(row);
    }
    $("promotions-total").textContent = `${state.total} promotion${state.total === 1 ? "" : "s"}`;
    $("promotions-empty").classList.toggle("d-none", state.promotions.length > 0);
    $("promotions-more").classList.toggle("d-none", !state.next);
  }

  // -- one promotion, live ------------------------------------------------------------------------
  const poll = {timer: null, hiddenSince: null, paused: false};

  function openPromotion(record) {
    state.shown = record;
    renderDetail(record);
    $("promotion-detail").classList.remove("d-none");
    $("promotion-detail").scrollIntoView({block: "nearest"});
    renderPromotions();
    remember();
    follow();
  }

  function closePromotion() {
    clearTimeout(poll.timer);
    poll.timer = null;
    state.shown = null;
    $("promotion-detail").classList.add("d-none");
    renderPromotions();
    remember();
  }

  function follow(delay = POLL_MS) {
    clearTimeout(poll.timer);
    poll.timer = null;
    poll.paused = false;
    if (state.shown && !FINISHED.includes(state.shown.status)) poll.timer = setTimeout(refreshShown, delay);
  }

  async function refreshShown() {
    const shown = state.shown;
    if (!shown) return;
    if (document.hidden) {
      poll.hiddenSince ??= Date.now();
      if (Date.now() - poll.hiddenSince > HIDDEN_STOP_MS) { poll.paused = true; return; }
      follow();
      return;
    }
    let record;
    try {
      record = await api("GET", `/promotions/${shown.id}`);
    } catch (e) {
      if (state.shown && state.shown.id === shown.id) {
        showAlert(`Promotion ${shown.version}: ${e.message}`);
        follow(RETRY_MS);
      }
      return;
    }
    if (!state.shown || state.shown.id !== shown.id) return; // another one was opened meanwhile
    state.shown = record;
    renderDetail(record);
    upsertPromotion(record);
    if (FINISHED.includes(record.status)) {
      if (state.project && state.project.id === record.project_id) chooseProject(record.project_id, state.project.ref);
    } else {
      follow();
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    poll.hiddenSince = null;
    if (poll.paused && state.shown) { poll.paused = false; refreshShown(); }
  });

  function renderDetail(p) {
    $("promotion-version").textContent = `${p.project} ${p.version}`;
    badge($("promotion-status"), p.status);
    $("promotion-message").textContent = p.message || "";
    $("promotion-message").classList.toggle("text-danger", p.status === "failed" || p.status === "error");
    $("promotion-commit").textContent = p.commit;
    $("promotion-who").textContent = `${p.created_by}, ${when(p.created_at)}` +
      (p.finished_at ? ` (finished ${when(p.finished_at)})` : "");
    $("promotion-notes").textContent = p.release_notes || "";
    $("image-ref").textContent = p.status === "success" ? imageRef(p) : "";

    const pipeline = $("pipeline-link");
    const url = p.pipeline_url || (p.pipeline && p.pipeline.web_url);
    pipeline.classList.toggle("d-none", !url);
    if (url) pipeline.href = url;

    renderStages(p.pipeline || {});
    renderChecks(p.checks || {});
    const log = $("log-tail");
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 20;
    log.textContent = p.log_tail || "";
    log.classList.toggle("d-none", !p.log_tail);
    $("log-title").classList.toggle("d-none", !p.log_tail);
    if (atBottom) log.scrollTop = log.scrollHeight;
    renderStartProd(p);
  }

  function renderStages(pipeline) {
    const stages = $("stages");
    stages.replaceChildren();
    for (const stage of pipeline.stages || []) {
      const column = el("div", {class: "stage border rounded p-2"},
        el("div", {class: "d-flex justify-content-between gap-2 mb-1"},
          el("strong", {class: "small"}, stage.name), badge(el("span"), stage.status)));
      column.dataset.stage = stage.name;
      for (const job of stage.jobs || []) {
        const name = job.web_url ? el("a", {href: job.web_url, target: "_blank", rel: "noopener"}, job.name) : el("span", {}, job.name);
        const item = el("div", {class: "job small d-flex justify-content-between gap-2"},
          el("span", {class: "text-break job-name"}, name),
          el("span", {class: "text-nowrap"}, el("span", {class: "job-duration text-body-secondary"}, duration(job.duration)), " ",
            badge(el("span", {class: "job-status"}), job.status)));
        if (job.failure_reason) item.title = job.failure_reason;
        item.dataset.job = job.name;
        column.append(item);
      }
      stages.append(column);
    }
    if (!stages.children.length) stages.append(el("p", {class: "small text-body-secondary mb-0"}, "No pipeline yet."));
  }

  function renderChecks(checks) {
    for (const item of document.querySelectorAll("#checks [data-check]")) {
      const check = checks[item.dataset.check] || {status: "not run", detail: ""};
      badge(item.querySelector(".check-status"), check.status);
      item.querySelector(".check-detail").textContent = check.detail || "";
    }
  }

  function renderStartProd(p) {
    const link = $("start-prod");
    const profiles = (state.project && state.project.id === p.project_id && state.project.prod_profiles) || [];
    const server = prodServer(p.version);
    const show = p.status === "success" && profiles.length > 0 && server !== null;
    link.classList.toggle("d-none", !show);
    if (!show) { link.removeAttribute("href"); return; }
    const enc = encodeURIComponent;
    link.href = `${cfg.spawn}${enc(cfg.user)}/${server}?profile=${enc(cfg.team)}/${enc(profiles[0])}&promotion=${p.id}`;
    link.title = `Start ${p.version} as server ${server} with profile ${profiles[0]}`;
  }

  // -- wiring ------------------------------------------------------------------------------------
  $("projects-refresh").addEventListener("click", () => { clearAlert(); loadProjects(); });
  $("project-refresh").addEventListener("click", () => {
    if (state.project) chooseProject(state.project.id, state.project.ref).then(() => loadPromotions());
  });
  $("branch").addEventListener("change", () => chooseProject(state.project.id, $("branch").value));
  if ($("setup")) $("setup").addEventListener("click", setUp);
  $("promote-form").addEventListener("submit", promote);
  $("promotions-more").addEventListener("click", () => loadPromotions(true));
  $("promotion-close").addEventListener("click", closePromotion);

  (async () => {
    if (!(await loadProjects())) return;
    const query = new URLSearchParams(location.search);
    const project = Number(query.get("project"));
    const promotion = Number(query.get("promotion"));
    if (project && state.projects.some((p) => p.id === project)) await chooseProject(project);
    if (promotion) {
      try {
        const record = await api("GET", `/promotions/${promotion}`);
        if (!state.project && state.projects.some((p) => p.id === record.project_id)) await chooseProject(record.project_id);
        openPromotion(record);
      } catch (e) {
        showAlert(e.message);
      }
    }
  })();
})();
