// The desk (reviewers and above): hot spots from GET /v1/stats as charts and tables. Each part of the
// screen is one entry of SECTIONS ({id, title, render(report) -> element}); add a section there.
import { get } from "./api.js";
import { caseLink } from "./ask.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./state.js";

const PERIODS = [7, 28, 90];
const COLORS = { questions: "#2563eb", tickets: "#f59e0b", answered: "#16a34a", helpful: "#db2777", before: "#cbd5e1" };
let days = 28;
let chartLib = null;

// Chart.js (vendored in js/vendor/, MIT) as a classic script, loaded the first time the desk opens
function loadCharts() {
  if (!chartLib) {
    chartLib = new Promise((resolve, reject) => {
      if (window.Chart) { resolve(window.Chart); return; }
      const s = h("script", { src: "js/vendor/chart.umd.min.js" });
      s.onload = () => resolve(window.Chart);
      s.onerror = () => { chartLib = null; reject(new Error("chart library")); };
      document.head.append(s);
    });
  }
  return chartLib;
}

function weekLabels(r) {
  return r.weeks.map((w) => (w.days < 7 ? `${w.week} (${t("desk.days", w.days)})` : w.week));
}

function chart(testid, config) {
  const canvas = h("canvas", { "data-testid": testid, role: "img", "aria-label": t(`desk.chart.${testid}`) });
  const box = h("div.chartbox", canvas);
  loadCharts().then((Chart) => {
    if (!canvas.isConnected) return;
    new Chart(canvas, { ...config, options: { animation: false, maintainAspectRatio: false, responsive: true,
      ...config.options } });
    canvas.dataset.ready = "1";
  }).catch(() => clear(box, h("p.error", t("desk.nocharts"))));
  return box;
}

function pct(x) { return x === null || x === undefined ? "—" : `${Math.round(100 * x)}%`; }

function change(v) {
  const sign = v.change > 0 ? "+" : "";
  return `${sign}${v.change}` + (v.change_pct === null ? "" : ` (${sign}${Math.round(v.change_pct)}%)`);
}

function volumeTable(rows, testid) {
  if (!rows.length) return h("p.muted", t("desk.none"));
  return h("table", { "data-testid": testid },
    h("thead", h("tr", ["desk.col.name", "desk.col.now", "desk.col.before", "desk.col.change"].map((c) => h("th", t(c))))),
    h("tbody", rows.map((v) => h("tr", { "data-name": v.name },
      h("td", v.name), h("td.num", v.count), h("td.num", v.previous),
      h(`td.num.${v.change > 0 ? "up" : v.change < 0 ? "down" : "flat"}`, change(v))))));
}

function volumeSection(key) {
  return (r) => {
    const rows = r[key];
    const top = rows.slice(0, 8);
    if (!top.length) return h("p.muted", t("desk.none"));
    return h("div.twocol",
      chart(key, { type: "bar", data: { labels: top.map((v) => v.name), datasets: [
        { label: t("desk.now"), data: top.map((v) => v.count), backgroundColor: COLORS[key.startsWith("tickets") ? "tickets" : "questions"] },
        { label: t("desk.before"), data: top.map((v) => v.previous), backgroundColor: COLORS.before }] },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } }),
      volumeTable(rows, `${key}-table`));
  };
}

function rankTable(list, testid) {
  if (!list.length) return h("p.muted", t("library.nostats"));
  return h("table", { "data-testid": testid },
    h("thead", h("tr", ["library.col.case", "library.col.cited", "library.col.helpful", "library.col.unhelpful"].map((c) => h("th", t(c))))),
    h("tbody", list.map((x) => h("tr", h("td", caseLink(x.id), " ", x.title), h("td.num", x.cited), h("td.num", x.helpful),
      h("td.num", x.not_helpful)))));
}

function curatedTable(list) {
  if (!list.length) return h("p.muted", t("desk.curatedNone"));
  return h("table", { "data-testid": "desk-curated" },
    h("thead", h("tr", ["curated.col.id", "curated.col.question", "curated.col.hits", "curated.col.last"].map((c) => h("th", t(c))))),
    h("tbody", list.map((u) => h("tr", { "data-id": u.id }, h("td", u.id), h("td", u.question), h("td.num", u.hits),
      h("td", u.last_hit_at ? u.last_hit_at.slice(0, 10) : "")))));
}

export const SECTIONS = [
  { id: "volume", title: "desk.volume", render: (r) => h("div",
    h("p.summary", { "data-testid": "desk-summary" }, t("desk.summary", r.questions.count, change(r.questions),
      pct(r.answered_rate.current), pct(r.helpful_rate.current), r.tickets.count, change(r.tickets))),
    h("div.twocol",
      chart("weekly-volume", { type: "bar", data: { labels: weekLabels(r), datasets: [
        { label: t("desk.questions"), data: r.questions.weekly, backgroundColor: COLORS.questions },
        { label: t("desk.tickets"), data: r.tickets.weekly, backgroundColor: COLORS.tickets }] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } }),
      chart("weekly-rates", { type: "line", data: { labels: weekLabels(r), datasets: [
        { label: t("desk.answeredRate"), data: r.answered_rate.weekly.map((x) => (x === null ? null : 100 * x)),
          borderColor: COLORS.answered, backgroundColor: COLORS.answered, spanGaps: true },
        { label: t("desk.helpfulRate"), data: r.helpful_rate.weekly.map((x) => (x === null ? null : 100 * x)),
          borderColor: COLORS.helpful, backgroundColor: COLORS.helpful, spanGaps: true }] },
      options: { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } } } }))) },
  { id: "questions-by-product", title: "desk.questionsByProduct", render: volumeSection("questions_by_product") },
  { id: "questions-by-tag", title: "desk.questionsByTag", render: volumeSection("questions_by_tag") },
  { id: "tickets-by-product", title: "desk.ticketsByProduct", render: volumeSection("tickets_by_product") },
  { id: "tickets-by-tag", title: "desk.ticketsByTag", render: volumeSection("tickets_by_tag") },
  { id: "records", title: "desk.records", render: (r) => h("div.twocol",
    h("div", h("h3", t("library.mostCited")), rankTable(r.most_cited, "desk-most-cited")),
    h("div", h("h3", t("library.lowestRated")), rankTable(r.lowest_rated, "desk-lowest-rated"))) },
  { id: "watch", title: "desk.watch", render: (r) => h("div.twocol",
    h("div", h("h3", t("desk.flagged")), h("p.summary", { "data-testid": "desk-flagged" }, t("desk.flaggedCount", r.flagged_answers))),
    h("div", h("h3", t("desk.curated")), h("p", { "data-testid": "desk-curated-hits" }, t("desk.curatedHits", r.curated_hits)),
      curatedTable(r.curated))) },
];

export function renderDesk(main) {
  const body = h("div.desk-sections", { "data-testid": "desk" }, h("p.muted", t("loading")));
  const period = h("select", { "data-testid": "desk-days", "aria-label": t("desk.period"),
    onchange: () => { days = Number(period.value); load(); } },
  PERIODS.map((d) => h("option", { value: d, selected: d === days }, t("desk.lastDays", d))));
  const range = h("span.muted", { "data-testid": "desk-range" });
  clear(main, h("div.desk", h("div.deskhead", h("h2", t("nav.desk")), h("label", h("span", t("desk.period")), period), range), body));

  async function load() {
    clear(body, h("p.muted", t("loading")));
    try {
      const r = await get("/v1/stats", { days, limit: 10 });
      range.textContent = t("desk.range", r.since, r.until, r.previous_since, r.previous_until);
      clear(body, SECTIONS.map((s) => h("section.card", { id: `desk-${s.id}`, "data-testid": `desk-${s.id}` },
        h("h2", t(s.title)), s.render(r))));
    } catch (e) { clear(body, h("p.error", { role: "alert" }, errorText(e))); }
  }
  load();
  return null;
}
