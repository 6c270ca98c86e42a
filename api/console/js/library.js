// The library: search with filters and the explain view; the gaps grouped into work (js/gaps.js) and
// every unanswered question; most-cited and lowest-rated records (all but search for reviewer keys and above).
import { get, post } from "./api.js";
import { caseLink } from "./ask.js";
import { clear, fmtTime, h } from "./dom.js";
import { gapGroups } from "./gaps.js";
import { t } from "./i18n.js";
import { ctx, errorText } from "./state.js";
import { curatedSection } from "./curated.js";

const STATUSES = ["in_review", "draft", "rejected", "archived", "approved", "published", "any"];
let last = { query: "", k: 10, product: "", tags: "", kind: "", status: "", explain: false };

function table(cols, rows, testid) {
  return h("table", { "data-testid": testid },
    h("thead", h("tr", cols.map((c) => h("th", t(c))))),
    h("tbody", rows.map((r) => h("tr", r.map((cell) => h("td", cell))))));
}

function explainView(ex) {
  if (!ex) return null;
  const names = [...new Set([...Object.keys(ex.ranks || {}), ...Object.keys(ex.scores || {})])];
  const rest = Object.entries(ex).filter(([k]) => !["ranks", "scores"].includes(k));
  return h("div.explain", { "data-testid": "explain" },
    table(["library.explain.retriever", "library.explain.rank", "library.explain.score"],
      names.map((n) => [n, ex.ranks?.[n] ?? "—", ex.scores?.[n] ?? "—"]), "explain-table"),
    rest.length ? h("p.muted", rest.map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")) : null);
}

export function renderLibrary(main) {
  const reviewer = ctx.may("reviewer");
  const f = {
    query: h("input#q", { value: last.query, required: true, placeholder: t("library.query"), "data-testid": "search-query" }),
    k: h("input", { type: "number", min: 1, max: 100, value: last.k, "aria-label": t("library.k") }),
    product: h("input", { value: last.product, placeholder: t("library.product"), "data-testid": "filter-product" }),
    tags: h("input", { value: last.tags, placeholder: t("library.tags"), list: "lib-tags", "data-testid": "filter-tags" }),
    kind: h("select", { "data-testid": "filter-kind", "aria-label": t("library.kind") },
      ["", "case", "article"].map((k) => h("option", { value: k, selected: last.kind === k }, t(`library.kind.${k || "any"}`)))),
    status: reviewer ? h("select", { "data-testid": "filter-status", "aria-label": t("library.status") },
      h("option", { value: "" }, t("library.status.default")),
      STATUSES.map((s) => h("option", { value: s, selected: last.status === s }, t(`status.${s}`)))) : null,
    explain: h("input", { type: "checkbox", checked: last.explain, "data-testid": "explain-toggle" }),
  };
  const results = h("ol.results", { "data-testid": "results" });
  const tagList = h("datalist#lib-tags");
  get("/v1/taxonomy").then((x) => clear(tagList, x.dimensions.flatMap((d) => d.values.map((v) => h("option", { value: v.tag })))))
    .catch(() => {});

  const search = async (ev) => {
    ev?.preventDefault();
    last = { query: f.query.value.trim(), k: Number(f.k.value) || 10, product: f.product.value.trim(),
      tags: f.tags.value.trim(), kind: f.kind.value, status: f.status ? f.status.value : "", explain: f.explain.checked };
    if (!last.query) return;
    const filters = {};
    if (last.product) filters.product = [last.product];
    if (last.tags) filters.tag = last.tags.split(/[,，]/).map((x) => x.trim()).filter(Boolean);
    if (last.kind) filters.kind = [last.kind];
    if (last.status) filters.status = [last.status];
    clear(results, h("li.muted", t("loading")));
    try {
      const r = await post("/v1/search", { query: last.query, k: Math.min(100, Math.max(1, last.k)), explain: last.explain,
        ...(Object.keys(filters).length ? { filters } : {}) });
      clear(results, r.results.length ? r.results.map((x) => h("li.hit", { "data-testid": "hit", "data-id": x.id },
        h("div", caseLink(x.id, x.title), h("span.muted", ` ${x.id} · ${t(`library.kind.${x.kind}`)} · ${t(`section.${x.section}`)} · `),
          h("span.score", t("library.score", x.score.toFixed(3)))),
        x.heading ? h("p.muted.heading", x.heading) : null,
        h("p.snippet", x.snippet), explainView(x.explain))) : h("li.muted", t("library.noresults")));
    } catch (e) { clear(results, h("li.error", { role: "alert" }, errorText(e))); }
  };

  const gaps = h("div", { "data-testid": "gaps" }, h("p.muted", t("loading")));
  const most = h("div", { "data-testid": "most-cited" }, h("p.muted", t("loading")));
  const low = h("div", { "data-testid": "lowest-rated" }, h("p.muted", t("loading")));

  clear(main, h("div.library",
    h("section.card.search", h("h2", t("library.search")),
      h("form.searchform", { onsubmit: search },
        h("label.grow", h("span", t("library.query")), f.query),
        h("label", h("span", t("library.k")), f.k),
        h("label", h("span", t("library.product")), f.product),
        h("label", h("span", t("library.tags")), f.tags, tagList),
        h("label", h("span", t("library.kind")), f.kind),
        f.status ? h("label", h("span", t("library.status")), f.status) : null,
        h("label.check", f.explain, h("span", t("library.explain"))),
        h("button.primary", { type: "submit", "data-testid": "search" }, t("library.search"))),
      results),
    h("section.card", { id: "gaps" }, h("h2", t("gaps.title")), reviewer
      ? [gapGroups(), h("details.allgaps", h("summary", t("library.gaps")), gaps)] : h("p.muted", t("library.reviewerOnly"))),
    reviewer ? curatedSection() : null,
    h("div.twocol",
      h("section.card", h("h2", t("library.mostCited")), reviewer ? most : h("p.muted", t("library.reviewerOnly"))),
      h("section.card", h("h2", t("library.lowestRated")), reviewer ? low : h("p.muted", t("library.reviewerOnly"))))));

  if (reviewer) {
    get("/v1/gaps", { limit: 50 }).then((g) => clear(gaps, g.unanswered.length
      ? table(["library.col.question", "library.col.ticket", "library.col.support", "library.col.at"],
        g.unanswered.map((x) => [x.question, x.ticket || "—", x.support.toFixed(2), fmtTime(x.at)]), "gaps-table")
      : h("p.muted", t("library.nogaps")))).catch((e) => clear(gaps, h("p.error", errorText(e))));
    get("/v1/library/stats", { limit: 10 }).then((s) => {
      const rows = (list) => list.map((x) => [h("span", caseLink(x.id), " ", x.title), x.cited, x.helpful, x.not_helpful]);
      const cols = ["library.col.case", "library.col.cited", "library.col.helpful", "library.col.unhelpful"];
      clear(most, s.most_cited.length ? table(cols, rows(s.most_cited), "most-table") : h("p.muted", t("library.nostats")));
      clear(low, s.lowest_rated.length ? table(cols, rows(s.lowest_rated), "low-table") : h("p.muted", t("library.nostats")));
    }).catch((e) => { clear(most, h("p.error", errorText(e))); clear(low, h("p.error", errorText(e))); });
  }
  if (last.query) search();
  else f.query.focus();
  return null;
}
