// The operators' usage charts: GPUs held and storage per team over the chosen range, from
// /api/v1/usage (the portal runs fixed Prometheus queries), drawn with uPlot (served from
// portal/static/vendor). One line per team, its quota dashed in the same colour; a team
// keeps its colour in both charts. The charts reload every minute and on a range change.
"use strict";

(() => {
  const root = document.getElementById("usage");
  const alertBox = document.getElementById("usage-alert");
  const COLORS = ["#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#6c757d",
                  "#0dcaf0", "#ffc107"];
  const SCALE = [1, 2, 5, 10, 20, 50, 100, 200, 500];
  // Axis steps: whole GPUs; bytes at round binary sizes (1, 2, 5 … of B, KiB … PiB).
  const INCRS = {
    gpus: SCALE.concat(SCALE.map((n) => n * 1000)),
    bytes: [0, 1, 2, 3, 4, 5].flatMap((p) => SCALE.map((n) => n * 1024 ** p)),
  };
  const FORMAT = {gpus: (v) => (v === null ? "--" : String(v)), bytes: (v) => (v === null ? "--" : portal.human(v))};
  const charts = {};
  let range = document.querySelector("#usage-ranges input:checked").value;

  if (typeof uPlot === "undefined") {
    portal.showAlert(alertBox, "The charting library did not load (portal/static/vendor is filled by `make setup`).");
    return;
  }

  function draw(box, timestamps, lines, colorOf) {
    const unit = box.dataset.unit, format = FORMAT[unit];
    const teams = [...new Set([...Object.keys(lines.used), ...Object.keys(lines.quota)])].sort();
    const series = [{label: "Time"}], data = [timestamps];
    for (const team of teams) {
      if (lines.used[team]) {
        series.push({label: team, stroke: colorOf(team), width: 2, value: (u, v) => format(v),
                     paths: unit === "gpus" ? uPlot.paths.stepped({align: 1}) : undefined});
        data.push(lines.used[team]);
      }
      if (lines.quota[team]) {
        series.push({label: `${team} quota`, stroke: colorOf(team), width: 1, dash: [6, 4], value: (u, v) => format(v)});
        data.push(lines.quota[team]);
      }
    }
    charts[box.dataset.chart]?.destroy();
    box.replaceChildren();
    if (!teams.length) {
      box.append(portal.el("p", {class: "text-body-secondary mb-0 usage-empty"},
        "No data for this range: Prometheus has no samples of the portal's metrics yet."));
      delete charts[box.dataset.chart];
      return;
    }
    charts[box.dataset.chart] = new uPlot({
      width: box.clientWidth, height: 280, series,
      scales: {y: {range: (u, min, max) => [0, Math.max(max, unit === "gpus" ? 1 : 1024) * 1.1]}},
      axes: [{}, {size: 80, incrs: INCRS[unit], values: (u, ticks) => ticks.map(format)}],
    }, data, box);
  }

  async function load() {
    let answer;
    try {
      answer = await portal.request("GET", `${root.dataset.api}?range=${encodeURIComponent(range)}`);
    } catch (e) {
      portal.showAlert(alertBox, `Could not read the usage from Prometheus: ${e.message}`);
      return;
    }
    alertBox.className = "alert d-none";
    const teams = [...new Set(["gpus", "storage"].flatMap((c) => [answer[c].used, answer[c].quota].flatMap(Object.keys)))].sort();
    const colorOf = (team) => COLORS[teams.indexOf(team) % COLORS.length];
    for (const box of root.querySelectorAll(".usage-chart")) {
      draw(box, answer.timestamps, answer[box.dataset.chart], colorOf);
    }
    root.dataset.loaded = answer.range;  // for people and tests: which range is drawn
  }

  document.querySelectorAll("#usage-ranges input").forEach((input) => input.addEventListener("change", () => {
    range = input.value;
    load();
  }));
  window.addEventListener("resize", () => {
    for (const box of root.querySelectorAll(".usage-chart")) {
      charts[box.dataset.chart]?.setSize({width: box.clientWidth, height: 280});
    }
  });
  load();
  setInterval(load, 60000);
})();
