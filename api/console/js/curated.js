// Reviewer-curated answers: the label an answer carries when it is one, "correct this answer" under an
// answer (reviewers: the corrected text becomes the curated answer to its question), and the list of
// curated answers with their hits, where a reviewer retires one (POST /v1/curated/{id}/retire).
import { get, post } from "./api.js";
import { clear, fmtTime, h } from "./dom.js";
import { t } from "./i18n.js";
import { ctx, errorText, toast } from "./state.js";

// the line under a curated answer: who curated it, when, and which one
export function curatedLabel(c) {
  return h("p.curated", { "data-testid": "curated-label", "data-id": c.id },
    h("span.badge.curated", t("curated.badge")), " ",
    t("curated.by", c.reviewer, fmtTime(c.date), c.id, c.version));
}

// a reviewer's "correct this answer" button and the form it opens (answer: the API's answer; question: as asked)
export function correctButton(answer, question) {
  if (!ctx.may("reviewer")) return null;
  const box = h("div.correct", { "data-testid": "correct-box" });
  const open = () => {
    const q = h("input", { value: question || "", "aria-label": t("curated.question"), "data-testid": "correct-question" });
    const text = h("textarea", { rows: 4, "aria-label": t("curated.answer"), "data-testid": "correct-answer" });
    text.value = answer.abstained ? "" : answer.answer; // an abstention has nothing to start from
    const err = h("span.error", { role: "alert" });
    const save = async (ev) => {
      ev.preventDefault();
      const body = { from_answer: answer.id, answer: text.value.trim() };
      if (q.value.trim() && q.value.trim() !== question) body.question = q.value.trim();
      try {
        const made = answer.curated
          ? await post(`/v1/curated/${encodeURIComponent(answer.curated.id)}/edit`, { answer: body.answer })
          : await post("/v1/curated", body);
        clear(box, h("span.muted", { "data-testid": "corrected" }, t("curated.saved", made.id, made.version)));
        toast(t("curated.saved", made.id, made.version));
      } catch (e) { err.textContent = errorText(e); }
    };
    clear(box, h("form.correctform", { onsubmit: save },
      answer.curated ? null : h("label", h("span", t("curated.question")), q), // an edit keeps the curated question
      h("label", h("span", t("curated.answer")), text),
      h("p.muted", t("curated.hint")),
      h("div.actions", h("button.primary.small", { type: "submit", "data-testid": "correct-save" }, t("curated.save")),
        h("button.small", { type: "button", onclick: () => clear(box) }, t("review.cancel")), err)));
    text.focus();
  };
  return [h("button.small", { type: "button", "data-testid": "correct", onclick: open },
    answer.curated ? t("curated.edit") : t("curated.correct")), box];
}

// the Library's list of curated answers (reviewers): question, answer, reviewer, date, hits; retire
export function curatedSection() {
  const body = h("div", { "data-testid": "curated" }, h("p.muted", t("loading")));
  const retired = h("input", { type: "checkbox", "data-testid": "curated-retired", onchange: () => load() });

  const retire = async (c) => {
    if (!window.confirm(t("curated.confirm", c.id))) return;
    try {
      await post(`/v1/curated/${encodeURIComponent(c.id)}/retire`, {});
      toast(t("curated.retired", c.id));
      load();
    } catch (e) { toast(errorText(e), "bad"); }
  };

  const load = () => get("/v1/curated", retired.checked ? { retired: "true" } : undefined).then((r) => clear(body,
    r.curated.length ? h("table.curatedlist", { "data-testid": "curated-table" },
      h("thead", h("tr", ["curated.col.id", "curated.col.question", "curated.col.answer", "curated.col.by",
        "curated.col.hits", "curated.col.last", ""].map((k) => h("th", k ? t(k) : "")))),
      h("tbody", r.curated.map((c) => h("tr", { "data-testid": "curated-row", "data-id": c.id, class: `status-${c.status}` },
        h("td", c.id, " ", h("span.muted", `v${c.version}`), c.status === "retired" ? h("span.badge", t("curated.retiredBadge")) : null),
        h("td", c.question), h("td.answer", c.answer),
        h("td", c.reviewer, h("br"), h("span.muted", fmtTime(c.updated_at))),
        h("td.num", { "data-testid": "curated-hits" }, String(c.hits)),
        h("td", c.last_hit_at ? fmtTime(c.last_hit_at) : "—"),
        h("td", c.status === "active" ? h("button.small", { type: "button", "data-testid": `retire-${c.id}`,
          onclick: () => retire(c) }, t("curated.retire")) : null)))))
      : h("p.muted", t("curated.none")))).catch((e) => clear(body, h("p.error", errorText(e))));

  load();
  return h("section.card", { id: "curated" }, h("h2", t("curated.title")),
    h("p.muted", t("curated.about")), h("label.check", retired, h("span", t("curated.showRetired"))), body);
}
