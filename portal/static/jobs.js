// A team's Jobs page. The form submits a job as JSON to the jobs API (numbers as numbers): a
// promoted version with one of the commands its aiportal-jobs.yaml declares (read from the
// commands API) or a typed one, or a dev profile (a dev job, for testing) with a typed
// command. A refused job shows the portal's message under the field its `field` names. The
// table below lists the team's jobs, newest first, polled every few seconds; Logs shows a
// job's log (following a job that has not finished, as the API streams it), Cancel stops an
// unfinished one, and a finished job's outputs open in the datasets browser.
"use strict";

(() => {
  const {el} = portal;
  const $ = (id) => document.getElementById(id);
  const root = $("jobs");
  const form = $("job-form");
  const api = root.dataset.api;
  const POLL_MS = Number(root.dataset.pollMs) || 3000;
  const xsrf = window.jhdata.xsrf_token;
  const FINISHED = ["succeeded", "failed", "timeout", "cancelled"];
  const BADGES = {queued: "text-bg-secondary", staging: "text-bg-info", running: "text-bg-primary",
                  uploading: "text-bg-info", succeeded: "text-bg-success", failed: "text-bg-danger",
                  timeout: "text-bg-warning", cancelled: "text-bg-dark"};
  const alertBox = $("jobs-alert");

  async function getJSON(url) {
    const r = await fetch(url, {headers: {Accept: "application/json", "X-XSRFToken": xsrf}, cache: "no-store"});
    const data = await r.json().catch(() => ({message: r.statusText || `HTTP ${r.status}`}));
    if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
    return data;
  }

  function withQuery(url, params) {
    const u = new URL(url, window.location.href);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  }

  // ["python", "run.py", "--in", "/data/in x"] → python run.py --in '/data/in x'
  function shown(command) {
    if (typeof command === "string") return command;
    return command.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(" ");
  }

  // --- the form: what runs, and its commands ---------------------------------------------

  const versionSelect = $("job-version"), profileSelect = $("job-profile");
  const choice = $("job-command-choice"), commandInput = $("job-command");
  const preview = $("job-command-preview"), note = $("job-command-note");
  const commandsCache = new Map();  // version → {commands, problem} (or an error message)
  let declared = [];

  const kind = () => form.querySelector("input[name=kind]:checked")?.value || "";

  function showCommand() {
    const picked = choice.value === "" ? null : declared[Number(choice.value)];
    commandInput.classList.toggle("d-none", picked !== null);
    commandInput.disabled = picked !== null;
    preview.classList.toggle("d-none", picked === null);
    preview.textContent = picked ? shown(picked.command) : "";
    if (picked) note.textContent = picked.description || "";
  }

  function setCommands(commands, message) {
    declared = commands;
    choice.replaceChildren(
      ...commands.map((c, i) => el("option", {value: String(i)}, c.name)),
      el("option", {value: ""}, "Type a command…"));
    choice.value = commands.length ? "0" : "";
    choice.disabled = commands.length === 0;
    note.textContent = message;
    showCommand();
  }

  async function loadCommands() {
    if (kind() !== "version" || !versionSelect.value) {
      setCommands([], kind() === "profile" ? "A dev job runs a typed command." : "");
      return;
    }
    const version = versionSelect.value;
    setCommands([], "Reading the commands this version declares…");
    if (!commandsCache.has(version)) {
      try {
        commandsCache.set(version, await getJSON(withQuery(root.dataset.commandsApi, {version})));
      } catch (e) {
        commandsCache.set(version, {commands: [], problem: `The version's commands could not be read: ${e.message}`});
      }
    }
    if (kind() !== "version" || versionSelect.value !== version) return;  // changed meanwhile
    const {commands, problem} = commandsCache.get(version);
    setCommands(commands || [], problem ? `${problem}` :
      commands.length ? "" : "This version declares no commands (aiportal-jobs.yaml): type one.");
    note.classList.toggle("text-danger", Boolean(problem));
  }

  function whatRuns() {
    const k = kind();
    versionSelect.disabled = k !== "version";
    profileSelect.disabled = k !== "profile";
    $("dev-note").classList.toggle("d-none", k !== "profile");
    note.classList.remove("text-danger");
    loadCommands();
  }

  form.querySelectorAll("input[name=kind]").forEach((r) => r.addEventListener("change", whatRuns));
  versionSelect.addEventListener("change", loadCommands);
  choice.addEventListener("change", showCommand);

  // --- folders: suggestions for the input, a fresh output folder -------------------------

  const inputBox = $("job-input"), outputsBox = $("job-outputs"), folders = $("job-folders");
  const usedOutputs = new Set();  // output folders of jobs and of the bucket's results/
  let listed = null;

  async function subfolders(prefix) {
    const data = await getJSON(withQuery(root.dataset.datasetsApi, {prefix, limit: "1000"}));
    return (data.items || []).filter((i) => i.is_prefix).map((i) => i.key);
  }

  async function suggest(prefix) {
    if (prefix === listed) return;
    listed = prefix;
    try {
      const keys = await subfolders(prefix);
      if (listed === prefix) folders.replaceChildren(...keys.map((key) => el("option", {value: key})));
    } catch (e) { /* no suggestions: the field still takes any folder */ }
  }

  let typing = null;
  inputBox.addEventListener("input", () => {
    clearTimeout(typing);
    const value = inputBox.value;
    const prefix = value.includes("/") ? value.slice(0, value.lastIndexOf("/") + 1) : "";
    typing = setTimeout(() => suggest(prefix), 250);
  });

  function today() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }

  // results/<today>-<n>/ with the first n that no job and no folder of results/ has used.
  function proposeOutputs() {
    if (outputsBox.dataset.touched) return;
    let n = 1;
    while (usedOutputs.has(`results/${today()}-${n}/`)) n++;
    outputsBox.value = `results/${today()}-${n}/`;
  }

  outputsBox.addEventListener("input", () => { outputsBox.dataset.touched = "1"; });

  async function loadUsedOutputs() {
    try {
      (await subfolders("results/")).forEach((key) => usedOutputs.add(key));
    } catch (e) { /* the jobs' own outputs still count */ }
    proposeOutputs();
  }

  // --- submitting ------------------------------------------------------------------------

  function clearErrors() {
    form.querySelectorAll(".is-invalid").forEach((input) => input.classList.remove("is-invalid"));
    form.querySelectorAll(".field-error").forEach((box) => { box.textContent = ""; box.classList.remove("d-block"); });
    const alert = $("job-submit-alert");
    alert.textContent = "";
    alert.classList.add("d-none");
  }

  // Under the field the answer names ("inputs[0]", "resources.gpus", "version"…), else above
  // the Submit button. Messages quote what was typed: always text, never HTML.
  function showError(message, field) {
    const box = field ? form.querySelector(`.job-field[data-field="${CSS.escape(field)}"]`) : null;
    if (box) {
      const input = [...box.querySelectorAll("input:not([type=radio]), select")].find((i) => !i.disabled && !i.classList.contains("d-none"))
        || box.querySelector("select, input");
      input.classList.add("is-invalid");
      const error = box.querySelector(".field-error");
      error.textContent = message;
      error.classList.add("d-block");
      input.focus();
    } else {
      const alert = $("job-submit-alert");
      alert.textContent = message;
      alert.classList.remove("d-none");
    }
  }

  function number(input) {
    return input.value.trim() === "" ? undefined : Number(input.value);
  }

  // The job as the API takes it: empty optional fields left out, so the schema's defaults apply.
  function body() {
    const out = {};
    const name = form.elements.namedItem("name").value.trim();
    if (name) out.name = name;
    if (kind() === "version") out.version = versionSelect.value;
    else out.profile = profileSelect.value;
    out.command = choice.value === "" ? commandInput.value : declared[Number(choice.value)].command;
    const input = inputBox.value.trim();
    out.inputs = input ? [input] : [];
    const outputs = outputsBox.value.trim();
    if (outputs) out.outputs = outputs;
    const resources = {cpu: number($("job-cpu")), memory: $("job-memory").value.trim() || undefined,
                       gpus: number($("job-gpus"))};
    out.resources = Object.fromEntries(Object.entries(resources).filter(([, v]) => v !== undefined));
    const walltime = $("job-walltime").value.trim();
    if (walltime) out.walltime = /^[0-9]+$/.test(walltime) ? Number(walltime) : walltime;
    return out;
  }

  form.addEventListener("input", (e) => {
    if (e.target.classList?.contains("is-invalid")) {
      e.target.classList.remove("is-invalid");
      const error = e.target.closest(".job-field")?.querySelector(".field-error");
      if (error) { error.textContent = ""; error.classList.remove("d-block"); }
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const button = $("job-submit"), done = $("job-submitted");
    done.textContent = "";
    button.disabled = true;
    button.textContent = "Submitting…";
    const payload = body();
    let r, data;
    try {
      r = await fetch(api, {method: "POST", body: JSON.stringify(payload),
                            headers: {"Content-Type": "application/json", "X-XSRFToken": xsrf}});
      data = await r.json().catch(() => ({message: r.statusText || `HTTP ${r.status}`}));
    } catch (err) {
      r = {ok: false};
      data = {message: `Could not reach the portal: ${err.message}`};
    }
    button.disabled = false;
    button.textContent = "Submit job";
    if (!r.ok) {
      showError(data.message || "The job was refused", data.field);
      return;
    }
    done.textContent = `Job ${data.id} submitted.`;
    done.className = "small ms-2 text-success";
    if (payload.outputs) usedOutputs.add(payload.outputs.endsWith("/") ? payload.outputs : `${payload.outputs}/`);
    delete outputsBox.dataset.touched;
    proposeOutputs();
    refresh();
  });

  // --- the table -------------------------------------------------------------------------

  function when(iso) {
    if (!iso) return "";
    const t = new Date(iso);
    return el("time", {datetime: iso, title: t.toISOString()}, t.toLocaleString());
  }

  function runs(job) {
    if (job.dev || !job.version) {
      return el("span", {class: "badge text-bg-warning", title: "a dev job, for testing"}, `dev: ${job.profile || "?"}`);
    }
    const at = job.version.lastIndexOf(":");
    return `${job.version.slice(0, at)} ${job.version.slice(at + 1)}`;
  }

  function stateCell(job) {
    const badge = el("span", {class: `badge ${BADGES[job.state] || "text-bg-secondary"} job-state`}, job.state);
    let detail = null;
    if (job.state === "queued" && job.message) {
      detail = el("div", {class: "small text-body-secondary job-message"}, job.message);
    } else if (["failed", "timeout"].includes(job.state)) {
      detail = el("div", {class: "small text-danger text-pre-wrap job-message"},
        job.reason ? el("strong", {class: "job-reason"}, `${job.reason}: `) : null, job.message || "");
    } else if (job.state === "cancelled" && job.message) {
      detail = el("div", {class: "small text-body-secondary job-message"}, job.message);
    }
    return el("td", {class: "job-state-cell"}, badge, detail);
  }

  // The datasets browser at the job's output folder (the folder URL-encoded here, whatever
  // characters its name has).
  function outputsLink(job) {
    const base = job.outputs_url.split("?")[0];
    return el("a", {class: "btn btn-sm btn-outline-success job-outputs", href: `${base}?prefix=${encodeURIComponent(job.outputs)}`},
      "Outputs");
  }

  function row(job) {
    const finished = FINISHED.includes(job.state);
    const actions = el("div", {class: "d-flex flex-wrap gap-1 justify-content-end"});
    const logs = el("button", {type: "button", class: "btn btn-sm btn-outline-secondary job-logs"}, "Logs");
    logs.addEventListener("click", () => openLogs(job));
    actions.append(logs);
    if (!finished) {
      const cancel = el("button", {type: "button", class: "btn btn-sm btn-outline-danger job-cancel"}, "Cancel");
      cancel.addEventListener("click", () => askCancel(job, cancel));
      actions.append(cancel);
    } else if (job.outputs && job.outputs_url) {
      actions.append(outputsLink(job));
    }
    return el("tr", {class: "job-row", "data-job": String(job.id), "data-state": job.state},
      el("td", {class: "job-id"}, String(job.id)),
      el("td", {class: "job-name text-break"}, job.name || ""),
      el("td", {class: "job-user"}, job.user),
      el("td", {class: "job-runs text-break"}, runs(job)),
      stateCell(job),
      el("td", {class: "small job-created"}, when(job.created_at)),
      el("td", {class: "small job-started"}, when(job.started_at)),
      el("td", {class: "small job-finished"}, when(job.finished_at)),
      el("td", {class: "job-exit"}, job.exit_code === null || job.exit_code === undefined ? "" : String(job.exit_code)),
      el("td", {}, actions));
  }

  const rows = new Map();  // id → {key, node}: a row is redrawn only when its job changed
  function render(data) {
    const items = data.items || [];
    $("jobs-loading")?.remove();
    $("no-jobs").classList.toggle("d-none", items.length > 0);
    $("jobs-table").classList.toggle("d-none", items.length === 0);
    const total = data._pagination?.total ?? items.length;
    $("jobs-count").textContent = total > items.length ? `newest ${items.length} of ${total}` :
      `${total} job${total === 1 ? "" : "s"}`;
    const body = $("job-rows"), seen = new Set();
    for (const job of items) {
      seen.add(job.id);
      if (job.outputs) usedOutputs.add(job.outputs);
      const key = JSON.stringify(job);
      let entry = rows.get(job.id);
      if (!entry || entry.key !== key) {
        const node = row(job);
        entry?.node.replaceWith(node);
        entry = {key, node};
        rows.set(job.id, entry);
      }
      body.append(entry.node);  // in the API's order: newest first
    }
    for (const [id, entry] of rows) {
      if (!seen.has(id)) { entry.node.remove(); rows.delete(id); }
    }
    proposeOutputs();
    root.dataset.loaded = String(items.length);  // for people and tests: the table shows an answer
  }

  async function load() {
    try {
      render(await getJSON(withQuery(api, {limit: "100"})));
      if (alertBox.classList.contains("alert-warning")) alertBox.className = "alert d-none";
    } catch (e) {
      portal.showAlert(alertBox, `The jobs could not be read: ${e.message}`, "warning");
    }
  }

  const refresh = portal.poll(load, POLL_MS);

  // --- cancelling ------------------------------------------------------------------------

  const cancelModal = $("cancel-modal");
  let cancelling = null;
  function askCancel(job, button) {
    cancelling = {job, button};
    $("cancel-name").textContent = job.name ? `${job.id} (${job.name})` : String(job.id);
    bootstrap.Modal.getOrCreateInstance(cancelModal).show();
  }
  $("cancel-confirm").addEventListener("click", async () => {
    bootstrap.Modal.getOrCreateInstance(cancelModal).hide();
    if (!cancelling) return;
    const {job, button} = cancelling;
    cancelling = null;
    button.disabled = true;
    try {
      await portal.request("DELETE", `${api}/${job.id}`);
      alertBox.className = "alert d-none";
    } catch (e) {
      portal.showAlert(alertBox, e.message);
      button.disabled = false;
    }
    refresh();
  });

  // --- logs ------------------------------------------------------------------------------

  const logsModal = $("logs-modal"), logsText = $("logs-text"), logsStatus = $("logs-status");
  let reading = null;  // the AbortController of the log being read

  function append(text) {
    const atEnd = logsText.scrollHeight - logsText.scrollTop - logsText.clientHeight < 24;
    logsText.append(document.createTextNode(text));
    if (atEnd) logsText.scrollTop = logsText.scrollHeight;
  }

  async function openLogs(job) {
    reading?.abort();
    const controller = reading = new AbortController();
    const follow = !FINISHED.includes(job.state);
    $("logs-job").textContent = job.name ? `${job.id} (${job.name})` : String(job.id);
    logsText.replaceChildren();
    logsText.dataset.done = "";
    $("logs-following").classList.toggle("d-none", !follow);
    logsStatus.textContent = follow ? "Following the job: new lines appear as it writes them." : "";
    bootstrap.Modal.getOrCreateInstance(logsModal).show();
    const url = withQuery(`${api}/${job.id}/logs`, follow ? {follow: "1"} : {});
    try {
      const r = await fetch(url, {headers: {"X-XSRFToken": xsrf}, cache: "no-store", signal: controller.signal});
      if (!r.ok) {
        const data = await r.json().catch(() => ({message: r.statusText || `HTTP ${r.status}`}));
        throw new Error(data.message || `HTTP ${r.status}`);
      }
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        append(value);
      }
      if (reading !== controller) return;
      logsStatus.textContent = logsText.textContent ? (follow ? "The job has finished: end of the log." : "End of the log.")
        : "The job wrote no output.";
      logsText.dataset.done = "1";
    } catch (e) {
      if (controller.signal.aborted) return;
      logsStatus.textContent = `The log could not be read: ${e.message}`;
    } finally {
      if (reading === controller) $("logs-following").classList.add("d-none");
    }
  }

  logsModal.addEventListener("hidden.bs.modal", () => {
    reading?.abort();
    reading = null;
  });

  whatRuns();
  suggest("");
  loadUsedOutputs();
  refresh();
})();
