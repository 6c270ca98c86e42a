// The console's shell: sign-in, the header, the screens by URL hash, and the language toggle.
import { ApiError, get, session } from "./api.js";
import { clear, h } from "./dom.js";
import { getLang, setLang, t } from "./i18n.js";
import { renderAsk, renderCase } from "./ask.js";
import { renderReview } from "./review.js";
import { renderLibrary } from "./library.js";
import { renderDesk } from "./desk.js";
import { ctx } from "./state.js";

const SCREENS = [
  { id: "ask", label: "nav.ask", role: "agent" },
  { id: "review", label: "nav.review", role: "reviewer" },
  { id: "library", label: "nav.library", role: "agent" },
  { id: "desk", label: "nav.desk", role: "reviewer" },
];

const main = document.getElementById("main");
let cleanup = null;

function signIn(message) {
  document.getElementById("top").hidden = true;
  const input = h("input#key", { type: "password", autocomplete: "off", spellcheck: "false", required: true,
    placeholder: "cp_…", "aria-label": t("signin.key"), "data-testid": "key" });
  const err = h("p.error", { role: "alert" }, message || "");
  const form = h("form.card.signin", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      session.key = input.value.trim();
      try {
        await start();
      } catch (e) {
        session.key = "";
        err.textContent = t("signin.bad", e instanceof ApiError ? e.message : t("error.network"));
      }
    },
  },
  h("h1", t("app.title")),
  h("label", { for: "key" }, t("signin.key")), input,
  h("button.primary", { type: "submit", "data-testid": "signin" }, t("signin.submit")),
  h("p.muted", t("signin.hint")), err, langButton());
  clear(main, form);
  input.focus();
}

function langButton() {
  return h("button.link", { type: "button", onclick: toggleLang }, t("lang.switch"));
}

function toggleLang() {
  setLang(getLang() === "zh" ? "en" : "zh");
  if (ctx.me) { header(); route(); } else signIn();
}

function header() {
  document.getElementById("top").hidden = false;
  const nav = document.getElementById("nav");
  const here = (location.hash.split("/")[1] || "ask");
  clear(nav, SCREENS.filter((s) => ctx.may(s.role)).map((s) =>
    h("a", { href: `#/${s.id}`, "data-testid": `nav-${s.id}`, "aria-current": here === s.id ? "page" : null },
      t(s.label))));
  document.getElementById("who").textContent = t("who", ctx.me.tenant, t(`role.${ctx.me.role}`));
  const lang = document.getElementById("lang");
  lang.textContent = t("lang.switch");
  lang.onclick = toggleLang;
  const out = document.getElementById("signout");
  out.textContent = t("signout");
  out.onclick = () => { session.key = ""; ctx.me = null; location.hash = ""; signIn(); };
  document.title = t("app.title");
}

function route() {
  if (!ctx.me) return;
  if (cleanup) { cleanup(); cleanup = null; }
  const [, screen = "ask", ...rest] = location.hash.split("/");
  const arg = rest.map(decodeURIComponent).join("/");
  header();
  main.className = `screen-${screen}`;
  if (screen === "case" && arg) cleanup = renderCase(main, arg);
  else if (screen === "review") cleanup = renderReview(main, arg);
  else if (screen === "library") cleanup = renderLibrary(main);
  else if (screen === "desk" && ctx.may("reviewer")) cleanup = renderDesk(main);
  else cleanup = renderAsk(main);
}

async function start() {
  ctx.me = await get("/v1/me");
  if (!location.hash) location.hash = "#/ask";
  route();
}

window.addEventListener("hashchange", route);
setLang(getLang());
if (session.key) start().catch(() => { session.key = ""; signIn(); });
else signIn();
