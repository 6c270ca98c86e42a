// The review queue: drafts newest first; a draft beside its source ticket, each sentence marked with
// the messages it came from; tag chips from the taxonomy; possible duplicates with a diff, and the choice a
// likely duplicate needs (merge, editing the merged sections, or approve as distinct with a reason);
// approve, edit and approve, reject with a reason; the stale cases with their reasons. Keys: j/k, a, e, r, Esc.
import { get, post } from "./api.js";
import { SECTIONS, caseLink, promiseWhy } from "./ask.js";
import { diff } from "./diff.js";
import { clear, fmtTime, h } from "./dom.js";
import { t } from "./i18n.js";
import { ctx, errorText, toast } from "./state.js";

const FIELDS = ["title", ...SECTIONS, "product", "severity"];
let taxonomy = null; // [tag], loaded once per page

export function renderReview(main, wanted) {
  if (!ctx.may("reviewer")) {
    clear(main, h("div.card", h("p.error", { role: "alert", "data-testid": "forbidden" }, t("review.forbidden"))));
    return null;
  }
  const list = h("ol.queue", { "data-testid": "queue" });
  const staleList = h("ul.stale", { "data-testid": "stale" });
  const detail = h("section.detail", { "data-testid": "detail", "aria-live": "polite" }, h("p.muted", t("review.pick")));
  let queue = [];
  let index = -1;
  let view = null; // the open draft's controls: {approve, edit, reject, cancel}

  clear(main, h("div.review",
    h("aside.side",
      h("h2", t("review.queue")), list,
      h("p.muted.keys", t("review.keys")),
      h("h2", t("review.stale")), staleList),
    detail));

  const drawList = () => {
    clear(list, queue.length ? queue.map((q, i) => h("li", {
      class: i === index ? "current" : null, "data-id": q.id, "data-testid": "queue-item",
      "aria-current": i === index ? "true" : null,
    }, h("a", { href: `#/review/${encodeURIComponent(q.id)}`, onclick: (ev) => { ev.preventDefault(); select(i); } },
      h("span.title", q.title), h("span.muted", `${q.id} · ${q.ticket_id} · ${fmtTime(q.updated_at)}`),
      q.duplicates.length ? h("span.badge.warn", `≈ ${q.duplicates.length}`) : null)))
      : h("li.muted", { "data-testid": "queue-empty" }, t("review.empty")));
  };

  const select = (i) => {
    if (!queue.length) { index = -1; view = null; clear(detail, h("p.muted", t("review.empty"))); drawList(); return; }
    index = Math.max(0, Math.min(i, queue.length - 1));
    drawList();
    const id = queue[index].id;
    history.replaceState(null, "", `#/review/${encodeURIComponent(id)}`);
    list.querySelector("li.current")?.scrollIntoView({ block: "nearest" });
    open(id);
  };

  const reload = async (keepIndex) => {
    try {
      queue = (await get("/v1/review")).queue;
    } catch (e) { clear(list, h("li.error", errorText(e))); return; }
    let i = keepIndex ?? 0;
    if (wanted) { const w = queue.findIndex((q) => q.id === wanted); if (w >= 0) i = w; wanted = ""; }
    select(i);
    get("/v1/review/stale").then((s) => clear(staleList, s.stale.length ? s.stale.map((c) =>
      h("li", caseLink(c.id), " ", c.title, h("ul.reasons", c.reasons.map((r) => h("li.muted", r)))))
      : h("li.muted", t("review.nostale")))).catch((e) => clear(staleList, h("li.error", errorText(e))));
  };

  const decided = (message) => { toast(message); reload(index); };

  const open = async (id) => {
    view = null;
    clear(detail, h("p.muted", t("loading")));
    let shown;
    try {
      [shown] = await Promise.all([get(`/v1/review/${encodeURIComponent(id)}`), loadTaxonomy()]);
    } catch (e) { clear(detail, h("p.error", { role: "alert" }, errorText(e))); return; }
    if (queue[index]?.id !== id) return; // moved on meanwhile
    view = draftView(shown, detail, decided);
  };

  const onKey = (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = (ev.target.tagName || "").toLowerCase();
    if (ev.key === "Escape") { view?.cancel(); return; }
    if (["input", "textarea", "select"].includes(tag) || ev.target.isContentEditable) return;
    const act = { j: () => select(index + 1), k: () => select(index - 1), a: () => view?.approve(),
      e: () => view?.edit(), r: () => view?.reject() }[ev.key];
    if (act) { ev.preventDefault(); act(); }
  };
  document.addEventListener("keydown", onKey);
  reload();
  return () => document.removeEventListener("keydown", onKey);
}

async function loadTaxonomy() {
  if (!taxonomy) taxonomy = (await get("/v1/taxonomy")).dimensions.flatMap((d) => d.values.map((v) => v.tag));
  return taxonomy;
}

function draftView(shown, detail, decided) {
  const c = shown.case;
  const id = c.id;
  const payload = (shown.draft && shown.draft.payload) || {};
  const sentences = payload.sentences || [];
  const ticket = shown.ticket;
  const messages = (ticket && ticket.messages) || [];
  const color = new Map(messages.map((m, i) => [String(m.id), i % 6]));
  const chosen = new Set(c.tags || []);
  const suggested = new Map((payload.tags || []).map((x) => [x.tag, x.confidence]));
  let mode = "view";

  // ---- the draft, sentence by sentence, and the ticket beside it
  const ticketPane = h("div.pane.ticket", { "data-testid": "ticket" },
    h("h3", t("review.ticket", ticket ? ticket.id : (shown.draft ? shown.draft.ticket_id : "—"))),
    ticket ? h("p.muted", ticket.subject || "") : h("p.muted", t("review.noticket")),
    messages.map((m) => h("div.tmsg", { class: `tmsg role-${m.role} c${color.get(String(m.id))}`, "data-mid": m.id },
      h("span.mid", m.id), h("span.author", `${m.author || m.role}`), h("div.text", m.text))));
  const light = (ids, on) => {
    for (const mid of ids) ticketPane.querySelector(`[data-mid="${CSS.escape(mid)}"]`)?.classList.toggle("hl", on);
  };
  // sentences that address the assistant: never quoted in answers, so the reviewer should see them
  const instructionEls = (section) => (shown.instructions || []).filter((x) => x.section === section)
    .map((x) => h("p.instruction", { "data-testid": "instruction" }, h("span.badge.warn", t("review.instruction")), x.sentence));
  // sentences that promise what neither their messages nor the library's approved records say
  const promises = shown.promises || [];
  const promisesOf = (text) => promises.filter((f) => f.sentence === text || f.sentence === text.replace(/[。.!！]$/, ""));
  const promiseEls = (section) => promises.filter((f) => f.section === section)
    .map((f) => h("p.promise", { "data-testid": "promise", "data-category": f.category },
      h("span.badge.promise", t("review.promise", f.label)), " ", f.sentence, h("span.muted", ` (${promiseWhy(f)})`)));
  const sentenceEl = (s) => {
    const ids = (s.sources || []).map(String);
    const el = h("span.sent", {
      class: ids.length ? `sent src c${color.get(ids[0]) ?? 0}` : "sent unsourced", tabindex: 0,
      title: ids.length ? t("review.from", ids.join(", ")) : t("review.unsourced"),
      "data-testid": ids.length ? "sourced" : "unsourced", "data-sources": ids.join(" "),
    }, s.text, ids.length ? h("sup.srcs", ids.join(",")) : h("sup.nosrc", t("review.unsourced")));
    const flagged = promisesOf(s.text);
    if (flagged.length) {
      el.classList.add("promised");
      el.dataset.promise = flagged.map((f) => f.category).join(" ");
    }
    for (const [evn, on] of [["mouseenter", true], ["mouseleave", false], ["focus", true], ["blur", false]]) {
      el.addEventListener(evn, () => light(ids, on));
    }
    el.addEventListener("click", () => ids[0] && ticketPane.querySelector(`[data-mid="${CSS.escape(ids[0])}"]`)
      ?.scrollIntoView({ block: "nearest", behavior: "smooth" }));
    return el;
  };
  const draftPane = h("div.pane.draft", { "data-testid": "draft" },
    h("h3", t("review.draft")), h("p.muted.legend", t("review.legend")),
    sentences.length ? SECTIONS.map((s) => {
      const mine = sentences.filter((x) => x.section === s);
      return h("section.case-section", { "data-section": s }, h("h4", t(`section.${s}`)),
        mine.length ? h("p", mine.map(sentenceEl)) : h("p.muted", "—"), instructionEls(s), promiseEls(s));
    }) : SECTIONS.map((s) => h("section.case-section", h("h4", t(`section.${s}`)), h("div.text", c[s] || "—"),
      instructionEls(s), promiseEls(s))));

  // ---- edit form (replaces the draft pane)
  const inputs = Object.fromEntries(FIELDS.map((f) => [f, ["title", "product", "severity"].includes(f)
    ? h("input", { value: c[f] || "", name: f, "data-testid": `edit-${f}` })
    : h("textarea", { rows: f === "solution" ? 6 : 3, name: f, "data-testid": `edit-${f}` }, c[f] || "")]));
  const editPane = h("form.pane.edit", { "data-testid": "edit-form", onsubmit: (ev) => { ev.preventDefault(); approve(); } },
    FIELDS.map((f) => h("label", h("span", t(`section.${f}`) !== `section.${f}` ? t(`section.${f}`) : t(`case.${f}`)), inputs[f])),
    h("div.actions", h("button.primary", { type: "submit", "data-testid": "approve-edits" }, t("review.approveEdits")),
      h("button", { type: "button", onclick: () => cancel() }, t("review.cancel"))));

  // ---- tags as chips: the case's, the suggested ones, and any added from the taxonomy
  const chips = h("div.chips.pick", { "data-testid": "tags" });
  const drawChips = () => clear(chips, [...new Set([...chosen, ...suggested.keys()])].map((tag) =>
    h("button.chip", { type: "button", "aria-pressed": chosen.has(tag) ? "true" : "false", "data-tag": tag,
      onclick: () => { chosen.has(tag) ? chosen.delete(tag) : chosen.add(tag); drawChips(); } },
    tag, suggested.has(tag) ? h("small", ` ${t("review.suggested")} ${suggested.get(tag).toFixed(2)}`) : null)));
  drawChips();
  // the candidates the draft did not pick (also when it abstained): offered as chips, not chosen
  post("/v1/tags/suggest", { text: `${c.title || ""} ${c.problem || ""}`.trim() || id }).then((s) => {
    for (const x of s.candidates || []) if (!suggested.has(x.tag)) suggested.set(x.tag, x.confidence);
    drawChips();
  }).catch(() => {}); // no taxonomy: the chips stay as the draft made them
  const listId = `tax-${Math.random().toString(36).slice(2)}`;
  const addTag = h("input.addtag", { list: listId, placeholder: t("review.addtag"), "aria-label": t("review.addtag"),
    onchange: (ev) => { const v = ev.target.value.trim(); if (taxonomy.includes(v)) { chosen.add(v); drawChips(); } ev.target.value = ""; } });

  // ---- duplicates: compare side by side, merge into
  const diffBox = h("div.diffbox", { "data-testid": "diff" });
  const dups = payload.duplicates || [];
  const compare = async (dup) => {
    clear(diffBox, h("p.muted", t("loading")));
    try {
      const other = (await get(`/v1/cases/${encodeURIComponent(dup.id)}`)).data;
      clear(diffBox, h("h4", t("review.diff", id, dup.id)), ["title", ...SECTIONS].map((f) => {
        const parts = diff(c[f] || "", other[f] || "");
        return h("div.diffrow", h("h5", t(`section.${f}`)),
          h("div.side", parts.filter(([op]) => op !== "+").map(([op, s]) => op === "-" ? h("del", s) : s)),
          h("div.side", parts.filter(([op]) => op !== "-").map(([op, s]) => op === "+" ? h("ins", s) : s)));
      }));
    } catch (e) { clear(diffBox, h("p.error", errorText(e))); }
  };
  // merging shows the case's sections with the draft's merged in, editable, before anything is written
  const merge = async (dup) => {
    const url = `/v1/review/${encodeURIComponent(id)}/merge`;
    clear(diffBox, h("p.muted", t("loading")));
    try {
      const { merged } = await post(url, { into: dup.id, preview: true });
      const boxes = Object.fromEntries(SECTIONS.map((f) => [f, h("textarea", { rows: f === "solution" ? 6 : 3,
        name: f, "data-testid": `merge-${f}` }, merged[f] || "")]));
      const form = h("form.pane.edit", { "data-testid": "merge-form", onsubmit: async (ev) => {
        ev.preventDefault();
        const edits = Object.fromEntries(SECTIONS.filter((f) => boxes[f].value !== (merged[f] || ""))
          .map((f) => [f, boxes[f].value]));
        try { await post(url, { into: dup.id, edits }); decided(t("review.merged", dup.id)); }
        catch (e) { toast(errorText(e), "bad"); }
      } }, h("h4", t("review.mergeInto", id, dup.id)),
      SECTIONS.map((f) => h("label", h("span", t(`section.${f}`)), boxes[f])),
      h("div.actions", h("button.primary", { type: "submit", "data-testid": "merge-confirm" }, t("review.mergeConfirm")),
        h("button", { type: "button", onclick: () => clear(diffBox) }, t("review.cancel"))));
      clear(diffBox, form);
      boxes.solution.focus();
    } catch (e) { clear(diffBox, h("p.error", errorText(e))); }
  };
  // approving a likely duplicate needs a reason why it is a case of its own (or a merge instead)
  const distinct = h("input", { "data-testid": "distinct-reason", "aria-label": t("review.distinctReason"),
    placeholder: t("review.distinctReason") });
  const distinctBox = h("form.distinctbox", { "data-testid": "distinct-form", onsubmit: (ev) => {
    ev.preventDefault();
    if (!distinct.value.trim()) { toast(t("review.reasonNeeded"), "bad"); distinct.focus(); return; }
    approve(distinct.value.trim());
  } }, h("p.muted", t("review.dupChoice")), distinct,
  h("button", { type: "submit", "data-testid": "approve-distinct" }, t("review.approveDistinct")));

  // ---- decisions
  const reason = h("textarea", { rows: 2, "data-testid": "reason", "aria-label": t("review.reason"), placeholder: t("review.reason") });
  const rejectBox = h("form.rejectbox", { hidden: true, "data-testid": "reject-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { toast(t("review.reasonNeeded"), "bad"); reason.focus(); return; }
      try { await post(`/v1/review/${encodeURIComponent(id)}/reject`, { reason: reason.value.trim() }); decided(t("review.rejected", id)); }
      catch (e) { toast(errorText(e), "bad"); }
    } }, reason,
  h("div.actions", h("button.danger", { type: "submit", "data-testid": "reject-confirm" }, t("review.rejectConfirm")),
    h("button", { type: "button", onclick: () => cancel() }, t("review.cancel"))));

  reason.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); rejectBox.requestSubmit(); }
  });

  const approve = async (distinctReason) => {
    if (mode === "reject") return;
    const edits = {};
    const tags = [...chosen];
    if (tags.join("\n") !== (c.tags || []).join("\n")) edits.tags = tags;
    if (mode === "edit") for (const f of FIELDS) if (inputs[f].value !== (c[f] || "")) edits[f] = inputs[f].value;
    const body = Object.keys(edits).length ? { edits } : {};
    if (typeof distinctReason === "string") body.distinct_reason = distinctReason;
    try {
      await post(`/v1/review/${encodeURIComponent(id)}/approve`, body);
      decided(t("review.approved", id));
    } catch (e) {
      toast(errorText(e), "bad");
      if (e.code === "duplicate_draft") distinct.focus(); // the choice is below: merge, or a reason
    }
  };
  const edit = () => { mode = "edit"; draftPane.replaceWith(editPane); inputs.title.focus(); };
  const reject = () => { mode = "reject"; rejectBox.hidden = false; reason.focus(); };
  const cancel = () => {
    if (mode === "edit") editPane.replaceWith(draftPane);
    rejectBox.hidden = true;
    mode = "view";
  };

  clear(detail,
    h("header.detail-head",
      h("h2", h("span.id", id), " ", c.title),
      h("p.meta", h("span.badge", { class: `badge status-${shown.status}` }, t(`status.${shown.status}`)),
        h("span", t("case.version", shown.version)), c.product ? h("span", c.product) : null,
        c.severity ? h("span", c.severity) : null),
      h("div.actions",
        h("button.primary", { type: "button", "data-testid": "approve", onclick: () => approve() }, t("review.approve")),
        h("button", { type: "button", "data-testid": "edit", onclick: () => edit() }, t("review.edit")),
        h("button.danger", { type: "button", "data-testid": "reject", onclick: () => reject() }, t("review.reject"))),
      rejectBox),
    h("div.tagsbar", h("h4", t("review.tags")), chips, addTag,
      h("datalist", { id: listId }, (taxonomy || []).map((tag) => h("option", { value: tag })))),
    h("div.split", draftPane, ticketPane),
    h("section.dups", { "data-testid": "duplicates" }, h("h4", t("review.duplicates")),
      dups.length ? h("ul", dups.map((d) => h("li", caseLink(d.id), " ", d.title,
        h("span.muted", ` ${t("review.similarity", d.similarity.toFixed(2))} `),
        h("button.small", { type: "button", "data-testid": "compare", onclick: () => compare(d) }, t("review.compare")),
        h("button.small", { type: "button", "data-testid": "merge", onclick: () => merge(d) }, t("review.merge")))))
        : h("p.muted", t("review.nodup")), dups.length ? distinctBox : null, diffBox));
  return { approve, edit, reject, cancel };
}
