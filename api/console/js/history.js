// A case's history on its page: the versions (who, when, what changed), a diff of any two section by
// section (from GET /v1/cases/{id}/diff), and, for reviewers, restoring an earlier version as a new one.
import { get, post } from "./api.js";
import { clear, fmtTime, h } from "./dom.js";
import { t } from "./i18n.js";
import { ctx, errorText, toast } from "./state.js";

// a field's name as the case page shows it, else as stored
const label = (f) => [`section.${f}`, `case.${f}`].map((k) => t(k)).find((s, i) => s !== [`section.${f}`, `case.${f}`][i]) || f;

export function historySection(id, onRestored) {
  const path = `/v1/cases/${encodeURIComponent(id)}`;
  const table = h("div", { "data-testid": "versions" }, h("p.muted", t("loading")));
  const diffBox = h("div.histdiff", { "data-testid": "history-diff", "aria-live": "polite" });
  let from = 0, to = 0;

  const showDiff = async () => {
    if (!from || !to || from === to) { clear(diffBox, h("p.muted", t("history.pick"))); return; }
    clear(diffBox, h("p.muted", t("loading")));
    try {
      const d = await get(`${path}/diff`, { from, to });
      clear(diffBox, h("h4", t("history.diff", d.from_version, d.to_version)),
        d.changes.length ? d.changes.map(fieldDiff) : h("p.muted", t("history.same")));
    } catch (e) { clear(diffBox, h("p.error", errorText(e))); }
  };

  const restore = async (version) => {
    if (!window.confirm(t("history.confirm", version))) return;
    try {
      const r = await post(`${path}/restore`, { version });
      toast(t("history.restored", version, r.version));
      onRestored();
    } catch (e) { toast(errorText(e), "bad"); }
  };

  const draw = (versions) => {
    const current = versions[versions.length - 1].version;
    to = current;
    from = versions.length > 1 ? versions[versions.length - 2].version : current;
    const radio = (name, v) => h("input", { type: "radio", name: `${name}-${id}`, value: v, checked: (name === "from" ? from : to) === v,
      "aria-label": t(`history.${name}`, v), "data-testid": `${name}-${v}`,
      onchange: () => { if (name === "from") from = v; else to = v; showDiff(); } });
    clear(table, h("table.versions",
      h("thead", h("tr", ["history.col.version", "history.from.col", "history.to.col", "history.col.at", "history.col.who",
        "history.col.action", "history.col.changed", ""].map((k) => h("th", k ? t(k) : "")))),
      h("tbody", versions.slice().reverse().map((v) => h("tr", { "data-version": v.version, "data-testid": "version" },
        h("td", `v${v.version}`, v.version === current ? h("span.badge", t("history.current")) : null),
        h("td", radio("from", v.version)), h("td", radio("to", v.version)),
        h("td", fmtTime(v.at)), h("td", v.actor), h("td", t(`history.action.${v.action}`) !== `history.action.${v.action}`
          ? t(`history.action.${v.action}`) : v.action),
        h("td", v.restored_from ? t("history.from.version", v.restored_from) + " " : "", v.changed.map(label).join(", ") || "—"),
        h("td", ctx.may("reviewer") && v.version !== current ? h("button.small", { type: "button",
          "data-testid": `restore-${v.version}`, onclick: () => restore(v.version) }, t("history.restore")) : null))))));
    showDiff();
  };

  get(`${path}/versions`).then((r) => draw(r.versions)).catch((e) => clear(table, h("p.error", errorText(e))));
  return h("section.case-section.history", { "data-testid": "history" }, h("h3", t("history.title")), table, diffBox);
}

function fieldDiff(c) {
  const head = h("h5", label(c.field));
  if (c.kind === "text") {
    return h("div.fielddiff", { "data-field": c.field }, head, h("pre.udiff", c.diff.map((line) => {
      const op = line[0];
      const cls = op === "+" ? "add" : op === "-" ? "del" : op === "@" ? "hunk" : "ctx";
      return h(`span.${cls}`, line);
    })));
  }
  if (c.kind === "list") {
    return h("div.fielddiff", { "data-field": c.field }, head, h("p",
      c.added.map((x) => h("ins", `+ ${x} `)), c.removed.map((x) => h("del", `− ${x} `))));
  }
  return h("div.fielddiff", { "data-field": c.field }, head,
    h("p", h("del", String(c.before ?? "—")), " → ", h("ins", String(c.after ?? "—"))));
}
