// Ask: a conversation scoped to a ticket, answers streamed from /v1/ask, citations that open the case.
// The case view: its four sections, tags, version, and how often it was cited and rated.
import { askStream, get, post } from "./api.js";
import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { historySection } from "./history.js";
import { correctButton, curatedLabel } from "./curated.js";
import { errorText } from "./state.js";

const threads = new Map(); // ticket id ("" for none) -> [{role, text, answer?, error?}]
let ticket = "";
// a case's sections in the order the case model (assistant/types.py CASE_SECTIONS) and the API give them
export const SECTIONS = ["problem", "diagnosis", "solution", "outcome"];
const CITE = /\[([^\[\]\s]{1,80})\]/g;

export function caseLink(id, text) {
  return h("a.cite", { href: `#/case/${encodeURIComponent(id)}`, "data-testid": "cite", "data-id": id }, text || id);
}

// answer text with every [ID] of a known record as a link to it
function linked(text, ids) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(CITE)) {
    if (!ids.has(m[1])) continue;
    out.push(text.slice(last, m.index), caseLink(m[1], `[${m[1]}]`));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

// why a promise was flagged (assistant/promises.py Flag.reason), for people
export function promiseWhy(f) {
  return t(`promise.${f.reason}`, f.source || "", (f.missing || []).join("、"));
}

// the warning on an answer that commits to a refund, a deadline, … its cited record does not make
function promiseWarning(promises) {
  if (!promises || !promises.length) return null;
  return h("div.promise-warning", { role: "alert", "data-testid": "promise-warning" },
    h("p", t("ask.promise", promises.length)),
    h("ul", promises.map((f) => h("li", { "data-category": f.category }, h("span.badge.promise", f.label), " ", f.sentence,
      h("span.muted", ` (${promiseWhy(f)})`)))));
}

function thread() {
  if (!threads.has(ticket)) threads.set(ticket, []);
  return threads.get(ticket);
}

function answerView(turn) {
  const a = turn.answer;
  if (turn.error) return h("div.msg.bot.failed", { role: "alert" }, turn.error);
  if (!a) return h("div.msg.bot.streaming", { "aria-busy": "true" }, turn.text || t("ask.thinking"));
  const ids = new Set([...a.citations.map((c) => c.id), ...a.related.map((r) => r.id)]);
  const rated = h("span.muted");
  const rate = async (helpful, ev) => {
    try {
      await post(`/v1/answers/${encodeURIComponent(a.id)}/feedback`, { helpful });
      turn.rated = helpful;
      ev.target.closest(".feedback").replaceChildren(h("span.muted", { "data-testid": "rated" }, t("ask.rated")));
    } catch (e) { rated.textContent = errorText(e); }
  };
  const seen = new Set();
  // a cited or related record opened from the answer counts, once, as a weak positive for ranking
  turn.opened = turn.opened || new Set();
  const opened = (ev) => {
    const link = ev.target.closest("a.cite");
    if (!link || turn.opened.has(link.dataset.id)) return;
    turn.opened.add(link.dataset.id);
    post(`/v1/answers/${encodeURIComponent(a.id)}/opened`, { record_id: link.dataset.id }).catch(() => {});
  };
  return h("div.msg.bot", { "data-testid": "answer", "data-answer-id": a.id, onclick: opened },
    a.abstained ? null : promiseWarning(a.promises),
    a.abstained ? null : h("div.answer-text", linked(a.answer, ids)),
    a.abstained ? h("div.abstain", { "data-testid": "abstained" }, h("p", t("ask.abstained")),
      a.related.length ? h("ul.related", a.related.map((r) =>
        h("li", caseLink(r.id), " ", r.title, h("span.muted", ` ${r.kind} · ${r.score.toFixed(2)}`))))
        : h("p.muted", t("ask.norelated"))) : null,
    a.citations.length ? h("details.sources", { open: true }, h("summary", t("ask.sources")),
      h("ul", a.citations.filter((c) => !seen.has(c.id + c.quote) && seen.add(c.id + c.quote)).map((c) =>
        h("li", caseLink(c.id), c.section ? h("span.section", t(`section.${c.section}`)) : null,
          c.heading || c.page ? h("span.muted", ` ${c.heading || ""}${c.page ? ` · p. ${c.page}` : ""}`) : null,
          h("q", c.quote))))) : null,
    a.unsupported ? h("p.muted", t("ask.unsupported", a.unsupported)) : null,
    a.curated ? curatedLabel(a.curated) : null,
    h("div.feedback", turn.rated !== undefined ? h("span.muted", t("ask.rated")) : [
      h("button.small", { type: "button", "data-testid": "helpful", onclick: (ev) => rate(true, ev) }, t("ask.helpful")),
      h("button.small", { type: "button", "data-testid": "unhelpful", onclick: (ev) => rate(false, ev) }, t("ask.unhelpful")),
      rated]),
    correctButton(a, turn.question));
}

export function renderAsk(main) {
  const log = h("div.log", { "data-testid": "log", "aria-live": "polite" });
  const ticketInput = h("input#ticket", { value: ticket, placeholder: t("ask.ticket.placeholder"), "data-testid": "ticket" });
  const scope = h("span.scope", { "data-testid": "scope" });
  const q = h("textarea#question", { rows: 3, placeholder: t("ask.placeholder"), "data-testid": "question" });
  const send = h("button.primary", { type: "submit", "data-testid": "ask" }, t("ask.send"));

  const draw = () => {
    scope.textContent = ticket ? t("ask.ticket.scope", ticket) : t("ask.ticket.none");
    const turns = thread();
    clear(log, turns.length ? turns.map((turn) => turn.role === "user" ? h("div.msg.user", turn.text) : answerView(turn))
      : h("p.muted.empty", t("ask.empty")));
    log.scrollTop = log.scrollHeight;
  };

  const ask = async (ev) => {
    ev.preventDefault();
    const question = q.value.trim();
    if (!question || send.disabled) return;
    const turns = thread();
    const conversation = turns.filter((x) => x.role === "user" || x.answer)
      .map((x) => ({ role: x.role === "user" ? "user" : "assistant", text: x.role === "user" ? x.text : x.answer.answer }))
      .slice(-20);
    const mine = turns;
    const turn = { role: "bot", text: "", question };
    mine.push({ role: "user", text: question }, turn);
    q.value = "";
    send.disabled = true;
    draw();
    try {
      turn.answer = await askStream({ question, conversation, ...(ticket ? { ticket_id: ticket } : {}) }, (d) => {
        turn.text += d;
        if (mine === thread()) draw();
      });
    } catch (e) {
      turn.error = errorText(e);
    } finally {
      send.disabled = false;
      if (mine === thread()) draw();
      q.focus();
    }
  };

  clear(main,
    h("section.ask", { "aria-label": t("nav.ask") },
      h("form.ticketbar", { onsubmit: (ev) => { ev.preventDefault(); ticket = ticketInput.value.trim(); draw(); } },
        h("label", { for: "ticket" }, t("ask.ticket")), ticketInput,
        h("button", { type: "submit", "data-testid": "set-ticket" }, t("ask.ticket.set")), scope,
        h("button.link", { type: "button", onclick: () => { threads.set(ticket, []); draw(); } }, t("ask.clear"))),
      log,
      h("form.composer", { onsubmit: ask },
        h("label.sr", { for: "question" }, t("ask.question")), q, send)));
  q.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) ask(ev); });
  draw();
  q.focus();
  return null;
}

export function sectionBlock(name, text) {
  return h("section.case-section", { "data-section": name }, h("h3", t(`section.${name}`)), h("div.text", text || "—"));
}

export function tagChips(tags) {
  return h("div.chips", (tags || []).map((tag) => h("span.chip", tag)));
}

export function renderCase(main, id) {
  clear(main, h("p.muted", t("loading")));
  Promise.all([get(`/v1/cases/${encodeURIComponent(id)}`), get(`/v1/cases/${encodeURIComponent(id)}/stats`)])
    .then(([rec, stats]) => {
      const d = rec.data || {};
      clear(main, h("article.card.case", { "data-testid": "case", "data-id": rec.id },
        h("button.link.back", { type: "button", onclick: () => history.back(), "data-testid": "back" }, "← " + t("case.back")),
        h("h2", h("span.id", rec.id), " ", rec.title),
        h("p.meta",
          h("span.badge", { class: `badge status-${rec.status}` }, t(`status.${rec.status}`)),
          h("span", t("case.version", rec.version)),
          rec.product ? h("span", `${t("case.product")}: ${rec.product}${d.product_version ? " " + d.product_version : ""}`) : null,
          d.severity ? h("span", `${t("case.severity")}: ${d.severity}`) : null),
        h("p.stats", { "data-testid": "stats" },
          h("span", t("case.cited", stats.cited)), h("span", t("case.helpful", stats.helpful)),
          h("span", t("case.unhelpful", stats.not_helpful))),
        tagChips(d.tags),
        rec.kind === "case" ? SECTIONS.map((s) => sectionBlock(s, d[s]))
          : h("section.case-section", h("h3", t("case.body")),
            // a PDF's page marks (<!-- page N -->) are no text
            h("div.text", (d.body || "").replace(/^<!-- page \d+ -->\n*/gm, ""))),
        d.source_tickets && d.source_tickets.length ? h("p.muted", `${t("case.sources")}: ${d.source_tickets.join(", ")}`) : null,
        historySection(rec.id, () => renderCase(main, id))));
    })
    .catch((e) => clear(main, h("div.card", h("p.error", { role: "alert" }, errorText(e)),
      h("button.link", { type: "button", onclick: () => history.back() }, "← " + t("case.back")))));
  return null;
}
