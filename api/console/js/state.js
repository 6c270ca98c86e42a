// What the screens share: who is signed in, messages to the user.
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

const RANK = { agent: 0, reviewer: 1, admin: 2 };
export const ctx = { me: null, may: (role) => Boolean(ctx.me) && RANK[ctx.me.role] >= RANK[role] };

export function toast(text, kind = "ok") {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

export function errorText(e) {
  if (e instanceof ApiError) return e.status === 403 ? t("error.forbidden", e.message) : t("error.generic", e.message);
  return t("error.network");
}
