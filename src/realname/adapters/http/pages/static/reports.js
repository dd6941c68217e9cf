// Reports: an auditor or admin picks days, a period and (optionally) an outlet; the page shows the figures per
// outlet, the charts the server drew (SVG), downloads (CSV, JSON) and the newest anomaly flags.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const CATEGORIES = ["document", "face", "liveness", "quota", "lockout", "other"];
  const RULE_TEXT = {
    registration_burst: "Registrations far above the usual hourly rate",
    distant_regions: "Many IDs from distant provinces in a short time",
    face_mismatches: "Different IDs failing the face match at one terminal",
    outside_opening_hours: "Registrations outside opening hours",
    not_mine_by_outlet: "Numbers reported \"not mine\" after registration here",
  };
  let objectUrls = [];

  R.staffSession({ whoKey: "realname.reports_who", onSignedIn: () => load(), onSignedOut: () => {} });

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  const form = $("report-form");
  const today = new Date();
  form.last_day.value = isoDay(today);
  form.first_day.value = isoDay(new Date(today.getTime() - 6 * 86400000));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    R.guard(load);
  });

  function query() {
    const params = new URLSearchParams({
      first_day: form.first_day.value,
      last_day: form.last_day.value,
      period: form.period.value,
    });
    if (form.outlet.value.trim()) params.set("outlet", form.outlet.value.trim());
    return params.toString();
  }

  function cell(row, value) {
    const td = document.createElement("td");
    td.textContent = value;
    row.append(td);
  }

  function blobUrl(content, type) {
    const url = URL.createObjectURL(new Blob([content], { type }));
    objectUrls.push(url);
    return url;
  }

  async function load() {
    const files = await R.call("GET", "/v1/reports/files?" + query());
    for (const url of objectUrls) URL.revokeObjectURL(url);
    objectUrls = [];
    const report = JSON.parse(files["report.json"]);
    $("report-range").textContent =
      report.first_day + " to " + report.last_day + " · per " + report.period + " · UTC" +
      (report.utc_offset_hours >= 0 ? "+" : "") + report.utc_offset_hours;
    const body = $("outlet-table").querySelector("tbody");
    body.replaceChildren();
    for (const item of [...report.by_outlet, Object.assign({}, report.total, { outlet: "all outlets" })]) {
      const row = document.createElement("tr");
      row.dataset.outlet = item.outlet;
      cell(row, item.outlet);
      cell(row, String(item.attempts));
      cell(row, String(item.registrations));
      cell(row, item.approval_rate === null ? "–" : (100 * item.approval_rate).toFixed(1) + " %");
      cell(row, String(item.rejections));
      for (const category of CATEGORIES) cell(row, String(item.rejections_by_category[category]));
      for (const name of ["surrenders", "sim_replacements", "suspensions", "reverifications", "not_mine_reports"]) {
        cell(row, String(item[name]));
      }
      body.append(row);
    }
    const csv = $("download-csv");
    csv.href = blobUrl(files["report.csv"], "text/csv");
    csv.download = "realname-report-" + report.first_day + "-" + report.last_day + ".csv";
    csv.hidden = false;
    const json = $("download-json");
    json.href = blobUrl(files["report.json"], "application/json");
    json.download = "realname-report-" + report.first_day + "-" + report.last_day + ".json";
    json.hidden = false;
    const charts = $("charts");
    charts.replaceChildren();
    for (const name of Object.keys(files).filter((n) => n.endsWith(".svg"))) {
      const image = document.createElement("img");
      image.alt = name.replace(".svg", "").replace("_", " ") + " chart";
      image.className = "chart";
      image.dataset.chart = name;
      image.src = blobUrl(files[name], "image/svg+xml");
      charts.append(image);
    }
    await loadAnomalies();
    R.showState("report");
  }

  async function loadAnomalies() {
    const list = $("anomaly-list");
    list.replaceChildren();
    const flags = await R.call("GET", "/v1/reports/anomalies?limit=50");
    for (const flag of flags) {
      const item = document.createElement("li");
      item.className = "card case";
      item.dataset.rule = flag.rule;
      const head = document.createElement("p");
      head.className = "case-head";
      const title = document.createElement("strong");
      title.textContent = RULE_TEXT[flag.rule] || flag.rule;
      const state = document.createElement("span");
      state.className = "state badge";
      state.textContent = flag.case_state;
      head.append(title, " ", state);
      const facts = document.createElement("p");
      facts.textContent =
        flag.scope + " " + flag.subject + (flag.outlet && flag.outlet !== flag.subject ? " at " + flag.outlet : "") +
        " · " + R.formatTime(flag.window_start) + " – " + R.formatTime(flag.window_end) + " · " +
        Object.entries(flag.figures).map(([k, v]) => k.replace(/_/g, " ") + ": " + (Array.isArray(v) ? v.join(", ") : v)).join("; ");
      item.append(head, facts);
      list.append(item);
    }
    if (!flags.length) {
      const empty = document.createElement("li");
      empty.className = "card muted";
      empty.textContent = "No anomaly flagged.";
      list.append(empty);
    }
  }

  if (R.hasToken()) R.guard(load);
  else R.showState("signin");
})();
