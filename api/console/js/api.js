// Calls to the casepilot API with the signed-in key. The key lives in sessionStorage only.
const KEY = "casepilot.key";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "";
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(v) { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); },
};

function headers(extra) {
  return { Authorization: `Bearer ${session.key}`, ...(extra || {}) };
}

async function check(resp) {
  if (resp.ok) return resp.status === 204 ? null : resp.json();
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  throw new ApiError(resp.status, body);
}

export async function get(path, params) {
  const qs = params ? "?" + new URLSearchParams(params) : "";
  return check(await fetch(path + qs, { headers: headers() }));
}

export async function post(path, body) {
  return check(await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

// POST /v1/ask as Server-Sent Events: onDelta(text) while the engine writes; resolves with the verified answer.
export async function askStream(body, onDelta) {
  const resp = await fetch("/v1/ask", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!resp.ok) await check(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let answer = null;
  for (;;) {
    const { value, done } = await reader.read();
    buf += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      const payload = JSON.parse(data.join("\n"));
      if (event === "delta") onDelta(payload.text || "");
      else if (event === "answer") answer = payload;
      else if (event === "error") throw new ApiError(payload.status || 500, payload);
    }
    if (done) break;
  }
  if (!answer) throw new ApiError(502, { detail: "the stream ended without an answer" });
  return answer;
}
