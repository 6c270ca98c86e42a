// A character diff (longest common subsequence) for comparing a draft with a possible duplicate.
// Returns [op, text] pieces, op one of "=", "-" (only in a), "+" (only in b).
const MAX = 3000;

export function diff(a, b) {
  a = (a || "").slice(0, MAX);
  b = (b || "").slice(0, MAX);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const x = a.slice(pre, a.length - suf);
  const y = b.slice(pre, b.length - suf);
  const n = x.length, m = y.length;
  const dp = new Uint16Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      dp[i * (m + 1) + j] = x[i] === y[j] ? dp[(i + 1) * (m + 1) + j + 1] + 1
        : Math.max(dp[(i + 1) * (m + 1) + j], dp[i * (m + 1) + j + 1]);
    }
  }
  const out = [];
  const push = (op, ch) => {
    if (out.length && out[out.length - 1][0] === op) out[out.length - 1][1] += ch;
    else out.push([op, ch]);
  };
  if (pre) out.push(["=", a.slice(0, pre)]);
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { push("=", x[i]); i++; j++; }
    else if (dp[(i + 1) * (m + 1) + j] >= dp[i * (m + 1) + j + 1]) { push("-", x[i]); i++; }
    else { push("+", y[j]); j++; }
  }
  while (i < n) push("-", x[i++]);
  while (j < m) push("+", y[j++]);
  if (suf) push("=", a.slice(a.length - suf));
  return out;
}
