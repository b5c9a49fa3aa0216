// Supervisors' statistics: contact volumes per channel, queue time and feedback scores for a
// chosen range, drawn from the anonymous statistics API; each report downloadable as CSV.

import * as api from "./api.js";
import { h, replace, field, saveBlob } from "./dom.js";
import { t, number, seconds } from "./i18n.js";
import { barChart } from "./chart.js";
import { notify } from "./session.js";
import { CHANNELS } from "./vocabulary.js";

function isoDay(day) {
  const shifted = new Date(day.getTime() - day.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 10);
}

const range = (() => {
  const today = new Date();
  const start = new Date(today);
  start.setDate(start.getDate() - 29);
  return { from: isoDay(start), to: isoDay(today), interval: "day" };
})();

export function showStats(main) {
  let stopped = false;
  let latest = 0;
  const results = h("div", { class: "stats-results", id: "stats-results" });
  const from = h("input", { type: "date", name: "from", id: "stats-from", value: range.from, required: true });
  const to = h("input", { type: "date", name: "to", id: "stats-to", value: range.to, required: true });
  const interval = h("select", { name: "interval", id: "stats-interval" },
    ["day", "week", "month"].map((value) => h("option", { value, selected: value === range.interval }, t(`stats.interval.${value}`))));
  const form = h("form", { class: "filters card", id: "stats-form" },
    field(t("stats.from"), from), field(t("stats.to"), to), field(t("stats.intervalLabel"), interval),
    h("button", { type: "submit", class: "primary" }, t("stats.show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(range, { from: from.value, to: to.value, interval: interval.value });
    load();
  });

  async function load() {
    const ticket = ++latest;
    results.setAttribute("aria-busy", "true");
    replace(results, h("p", { class: "loading" }, t("app.loading")));
    const query = { from: range.from, to: range.to, interval: range.interval };
    try {
      const [contacts, calls, feedback] = await Promise.all([
        api.get("/stats/contacts", { ...query, group_by: "channel" }),
        api.get("/stats/calls", query),
        api.get("/stats/feedback", query),
      ]);
      if (stopped || ticket !== latest) return;
      results.removeAttribute("aria-busy");
      replace(results, contactsSection(contacts, query), callsSection(calls, query), feedbackSection(feedback, query));
    } catch (failure) {
      if (stopped || ticket !== latest) return;
      results.removeAttribute("aria-busy");
      replace(results, h("p", { class: "error", role: "alert" }, api.problemText(failure)));
    }
  }

  replace(main, h("h1", {}, t("stats.title")), form, results);
  load();
  return () => { stopped = true; };
}

// Every period of the range, empty ones included, labelled as the API labels them, so that a
// quiet day shows as a gap in the chart instead of vanishing from it.
export function periodsOf(from, to, interval) {
  const labels = [];
  for (let day = new Date(`${from}T00:00:00Z`); day <= new Date(`${to}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    const iso = day.toISOString().slice(0, 10);
    const label = interval === "day" ? iso : interval === "month" ? iso.slice(0, 7) : isoWeek(day);
    if (labels[labels.length - 1] !== label) labels.push(label);
  }
  return labels;
}

function isoWeek(day) {
  const thursday = new Date(day);
  thursday.setUTCDate(day.getUTCDate() + 4 - (day.getUTCDay() || 7));
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((thursday - yearStart) / 86400000 + 1) / 7);
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

function csvButton(report, query, extra = {}) {
  return h("button", { type: "button", class: "csv", dataset: { report }, onclick: async () => {
    try {
      const blob = await api.blob(`/stats/${report}`, { ...query, ...extra, format: "csv" }, "text/csv");
      saveBlob(blob, `${report}-${query.from}-${query.to}.csv`);
    } catch (failure) {
      notify(api.problemText(failure), "error");
    }
  } }, t("stats.csv"));
}

function suppressionNote(report) {
  const hidden = report.rows.some((row) => row.suppressed.length) || report.totals.some((row) => row.suppressed.length);
  return hidden ? h("p", { class: "hint" }, t("stats.suppressed", { threshold: report.suppression_threshold })) : null;
}

function contactsSection(report, query) {
  const periods = periodsOf(report.from, report.to, report.interval);
  const present = CHANNELS.filter((channel) => report.rows.some((row) => row.channel === channel));
  const series = present.map((channel) => ({
    name: t(`channel.${channel}`),
    values: periods.map((period) => {
      const row = report.rows.find((r) => r.period === period && r.channel === channel);
      return row ? row.contacts : 0;
    }),
  }));
  return h("section", { class: "card", id: "stats-contacts" },
    h("h2", {}, t("stats.contactsTitle")),
    h("p", {}, t("stats.contactsTotal", { count: number(report.total.contacts) })),
    series.length
      ? barChart({ title: t("stats.contactsChart"), categories: periods, series, format: (v) => number(v), id: "chart-contacts" })
      : h("p", { class: "empty" }, t("stats.noData")),
    suppressionNote(report),
    csvButton("contacts", query, { group_by: "channel" }));
}

function callsSection(report, query) {
  const periods = periodsOf(report.from, report.to, report.interval);
  const byPeriod = new Map(report.totals.map((row) => [row.period, row]));
  const total = report.total;
  return h("section", { class: "card", id: "stats-calls" },
    h("h2", {}, t("stats.callsTitle")),
    h("p", {}, t("stats.callsSummary", { offered: number(total.offered), answered: number(total.answered),
      median: seconds(total.queue_seconds_median), p90: seconds(total.queue_seconds_p90) })),
    total.offered !== 0
      ? barChart({ title: t("stats.queueChart"), categories: periods, stacked: false, format: (v) => seconds(v),
        id: "chart-queue",
        series: [
          // A period without calls is 0; a hidden figure stays null and shows as hidden.
          { name: t("stats.queueMedian"), values: periods.map((p) => (byPeriod.has(p) ? byPeriod.get(p).queue_seconds_median : 0)) },
          { name: t("stats.queueP90"), values: periods.map((p) => (byPeriod.has(p) ? byPeriod.get(p).queue_seconds_p90 : 0)) },
        ] })
      : h("p", { class: "empty" }, t("stats.noData")),
    suppressionNote(report),
    csvButton("calls", query));
}

function feedbackSection(report, query) {
  const total = report.total;
  const scores = [1, 2, 3, 4, 5];
  return h("section", { class: "card", id: "stats-feedback" },
    h("h2", {}, t("stats.feedbackTitle")),
    h("p", {}, t("stats.feedbackSummary", { sent: number(total.sent), answered: number(total.answered),
      mean: number(total.score_mean, 2) })),
    total.answered !== 0
      ? barChart({ title: t("stats.scoresChart"), categories: scores.map(String), stacked: false,
        format: (v) => number(v), id: "chart-scores",
        series: [{ name: t("stats.answers"), values: scores.map((score) => total[`score_${score}`]) }] })
      : h("p", { class: "empty" }, t("stats.noData")),
    suppressionNote(report),
    csvButton("feedback", query));
}
