// Gaps grouped into work, on the Library screen (reviewers): the unanswered and not-helpful questions
// of a period grouped by meaning, most asked first ("write this next"), each with its count, its
// change against the period before, its wordings, its tickets and what agents replied in them, and
// one action that drafts the missing FAQ from those replies into the review queue (GET /v1/gaps/groups,
// POST /v1/gaps/groups/{key}/draft; docs/gaps.md).
import { get, post } from "./api.js";
import { clear, fmtTime, h } from "./dom.js";
import { t } from "./i18n.js";
import { errorText, toast } from "./state.js";

const PERIODS = [7, 30, 90];
let days = 30;

function trend(n) {
  const cls = n > 0 ? "trend.up" : n < 0 ? "trend.down" : "trend";
  return h(`span.${cls}`, { "data-testid": "gap-trend", title: t("gaps.trendTitle") }, n > 0 ? `+${n}` : String(n));
}

function draftLink(draft) {
  return h("a", { href: `#/review/${encodeURIComponent(draft.case_id)}`, class: `badge status-${draft.status}`,
    "data-testid": "gap-drafted" }, t("gaps.drafted", draft.case_id, t(`status.${draft.status}`)));
}

function replyList(replies) {
  if (!replies.length) return h("p.muted", { "data-testid": "gap-noreplies" }, t("gaps.noreplies"));
  return h("details.replies", { open: true },
    h("summary", t("gaps.replies", replies.length)),
    h("ul", replies.map((r) => h("li", { "data-testid": "gap-reply", "data-ref": `${r.ticket_id}#${r.message_id}` },
      h("span.muted.src", `${r.ticket_id}#${r.message_id}${r.author ? " · " + r.author : ""}${r.at ? " · " + fmtTime(r.at) : ""}`),
      h("span.text", r.text)))));
}

function groupItem(g, redraw) {
  const action = h("div.actions");
  const draftButton = h("button.primary", {
    type: "button", "data-testid": "gap-draft", disabled: !g.replies.length,
    title: g.replies.length ? t("gaps.draftTitle") : t("gaps.noreplies"),
    onclick: async () => {
      draftButton.disabled = true;
      try {
        const r = await post(`/v1/gaps/groups/${encodeURIComponent(g.key)}/draft?days=${days}`);
        toast(t("gaps.draftedToast", r.case_id));
        g.draft = { case_id: r.case_id, status: "in_review" };
        redraw();
      } catch (e) { toast(errorText(e), "bad"); draftButton.disabled = false; }
    },
  }, t("gaps.draft"));
  clear(action, g.draft ? draftLink(g.draft) : null,
    !g.draft || ["in_review"].includes(g.draft.status) ? draftButton : null);
  if (g.draft) draftButton.textContent = t("gaps.redraft");
  const others = g.examples.filter((e) => e !== g.question);
  const unhelpful = g.reasons["not helpful"] || 0;
  return h("li.gap", { "data-testid": "gap-group", "data-key": g.key },
    h("div.gaphead",
      h("span.count", { "data-testid": "gap-count", title: t("gaps.countTitle") }, String(g.count)), trend(g.trend),
      h("strong.q", g.question),
      unhelpful ? h("span.badge.warn", t("gaps.unhelpful", unhelpful)) : null),
    others.length ? h("p.muted", t("gaps.also"), others.join(" / ")) : null,
    g.tickets.length ? h("p.muted", { "data-testid": "gap-tickets" }, t("gaps.tickets"), g.tickets.join(", ")) : null,
    replyList(g.replies), action);
}

// the card's content: a period picker, then the groups (or a word that there are none)
export function gapGroups() {
  const list = h("ol.gaps", { "data-testid": "gap-groups" }, h("li.muted", t("loading")));
  const summary = h("p.muted", { "data-testid": "gap-summary" });
  const picker = h("select", { "data-testid": "gap-days", "aria-label": t("gaps.period"), onchange: () => {
    days = Number(picker.value); load();
  } }, PERIODS.map((d) => h("option", { value: d, selected: d === days }, t("gaps.days", d))));
  let groups = [];
  const draw = () => clear(list, groups.length ? groups.map((g) => groupItem(g, draw))
    : h("li.muted", { "data-testid": "gap-none" }, t("gaps.none", days)));
  const load = async () => {
    clear(list, h("li.muted", t("loading")));
    try {
      const r = await get("/v1/gaps/groups", { days, limit: 20 });
      groups = r.groups;
      summary.textContent = t("gaps.summary", r.total_groups, days);
      draw();
    } catch (e) { clear(list, h("li.error", { role: "alert" }, errorText(e))); }
  };
  load();
  return h("div.gapwork", h("div.gapbar", summary, h("label", h("span", t("gaps.period")), picker)), list);
}
