// Every interface string, in one dictionary: zh (default) and en. t(key, ...args) fills {0}, {1}, ...
const STRINGS = {
  zh: {
    "app.title": "casepilot 控制台",
    "lang.switch": "English",
    "nav.ask": "提问", "nav.review": "审核", "nav.library": "案例库",
    "signin.title": "登录", "signin.key": "API 密钥", "signin.submit": "登录",
    "signin.hint": "密钥只保存在本浏览器会话中，关闭标签页即清除。用 casepilot keys create 创建。",
    "signin.bad": "密钥无效：{0}", "signout": "退出",
    "who": "租户 {0} · {1}",
    "role.agent": "坐席", "role.reviewer": "审核员", "role.admin": "管理员",
    "ask.ticket": "工单号", "ask.ticket.placeholder": "如 T-2024-0301（可选）", "ask.ticket.none": "未关联工单",
    "ask.ticket.scope": "当前工单：{0}", "ask.ticket.set": "切换", "ask.clear": "清空对话",
    "ask.question": "问题", "ask.placeholder": "输入客户的问题，Ctrl+Enter 发送", "ask.send": "提问",
    "ask.thinking": "正在检索案例…", "ask.abstained": "案例库里没有可靠的答案。相关案例：",
    "ask.norelated": "没有相关案例。", "ask.sources": "引用", "ask.helpful": "有帮助", "ask.unhelpful": "没帮助",
    "ask.rated": "已反馈，谢谢。", "ask.empty": "在下方输入问题开始。答案中的每个 [编号] 都可点开查看案例。",
    "ask.unsupported": "{0} 句因缺少依据被删去",
    "case.back": "返回", "case.version": "版本 {0}", "case.status": "状态", "case.product": "产品",
    "case.severity": "级别", "case.tags": "标签", "case.cited": "被引用 {0} 次", "case.helpful": "有帮助 {0}",
    "case.unhelpful": "没帮助 {0}", "case.sources": "来源工单", "case.body": "正文",
    "section.problem": "问题与场景", "section.diagnosis": "诊断与分析过程", "section.solution": "解决方案与操作步骤",
    "section.outcome": "结果与反馈", "section.title": "标题", "section.body": "正文", "section.answer": "答案", "section.question": "问题",
    "status.draft": "草稿", "status.in_review": "待审核", "status.approved": "已批准", "status.rejected": "已驳回",
    "status.archived": "已归档", "status.published": "已发布", "status.any": "全部",
    "review.queue": "待审核草稿", "review.empty": "没有待审核的草稿。", "review.stale": "需要复审的案例",
    "review.nostale": "没有需要复审的案例。", "review.pick": "从左侧选择一个草稿（j/k 上下移动）。",
    "review.ticket": "来源工单 {0}", "review.noticket": "来源工单不在库中。", "review.draft": "草稿",
    "review.unsourced": "无来源", "review.from": "来自消息 {0}", "review.tags": "标签（点击选择或取消）",
    "review.suggested": "建议", "review.addtag": "从标签体系添加…", "review.duplicates": "可能重复的案例",
    "review.nodup": "没有相似的已批准案例。", "review.compare": "对比", "review.merge": "合并到此案例",
    "review.approve": "批准 (a)", "review.edit": "编辑 (e)", "review.reject": "驳回 (r)",
    "review.approveEdits": "保存并批准", "review.cancel": "取消", "review.reason": "驳回理由",
    "review.rejectConfirm": "确认驳回", "review.reasonNeeded": "请填写驳回理由。",
    "review.approved": "{0} 已批准，现在可被引用。", "review.rejected": "{0} 已驳回。", "review.merged": "已合并到 {0}。",
    "review.keys": "键盘：j/k 下一个/上一个 · a 批准 · e 编辑 · r 驳回 · Esc 取消",
    "review.similarity": "相似度 {0}", "review.diff": "草稿 {0} 与 {1} 的对比", "review.forbidden": "此密钥的角色不能审核草稿。",
    "review.legend": "高亮：句子来自的工单消息；红色虚线：无来源，需核对。",
    "library.search": "搜索", "library.query": "关键词或问题", "library.k": "条数", "library.product": "产品",
    "library.tags": "标签（逗号分隔）", "library.kind": "类型", "library.kind.any": "全部",
    "library.kind.case": "案例", "library.kind.article": "文章", "library.status": "状态",
    "library.status.default": "已批准/已发布", "library.explain": "显示排名依据", "library.noresults": "没有结果。",
    "library.score": "得分 {0}", "library.gaps": "未能回答的问题", "library.nogaps": "暂无未回答的问题。",
    "library.mostCited": "引用最多", "library.lowestRated": "评价最低", "library.nostats": "还没有数据。",
    "library.col.question": "问题", "library.col.at": "时间", "library.col.ticket": "工单", "library.col.support": "支持度",
    "library.col.case": "案例", "library.col.cited": "引用", "library.col.helpful": "有帮助", "library.col.unhelpful": "没帮助",
    "library.explain.retriever": "检索器", "library.explain.rank": "名次", "library.explain.score": "分数",
    "library.reviewerOnly": "审核员及以上可见。",
    "error.forbidden": "无权限：{0}", "error.generic": "出错了：{0}", "error.network": "无法连接服务器。",
    "loading": "加载中…",
  },
  en: {
    "app.title": "casepilot console",
    "lang.switch": "中文",
    "nav.ask": "Ask", "nav.review": "Review", "nav.library": "Library",
    "signin.title": "Sign in", "signin.key": "API key", "signin.submit": "Sign in",
    "signin.hint": "The key is kept in this browser tab's session only and is gone when the tab closes. Create one with casepilot keys create.",
    "signin.bad": "The key was refused: {0}", "signout": "Sign out",
    "who": "tenant {0} · {1}",
    "role.agent": "agent", "role.reviewer": "reviewer", "role.admin": "admin",
    "ask.ticket": "Ticket", "ask.ticket.placeholder": "e.g. T-2024-0301 (optional)", "ask.ticket.none": "no ticket",
    "ask.ticket.scope": "Ticket: {0}", "ask.ticket.set": "Switch", "ask.clear": "Clear conversation",
    "ask.question": "Question", "ask.placeholder": "The customer's question; Ctrl+Enter sends", "ask.send": "Ask",
    "ask.thinking": "Searching the cases…", "ask.abstained": "The library has no reliable answer. Related cases:",
    "ask.norelated": "No related cases.", "ask.sources": "Sources", "ask.helpful": "Helpful", "ask.unhelpful": "Not helpful",
    "ask.rated": "Thanks for the rating.", "ask.empty": "Ask a question below. Every [ID] in an answer opens its case.",
    "ask.unsupported": "{0} sentence(s) dropped for lack of support",
    "case.back": "Back", "case.version": "version {0}", "case.status": "Status", "case.product": "Product",
    "case.severity": "Severity", "case.tags": "Tags", "case.cited": "cited {0} times", "case.helpful": "helpful {0}",
    "case.unhelpful": "not helpful {0}", "case.sources": "Source tickets", "case.body": "Body",
    "section.problem": "Problem and scenario", "section.diagnosis": "Diagnosis", "section.solution": "Solution and steps",
    "section.outcome": "Outcome and feedback", "section.title": "Title", "section.body": "Body", "section.answer": "Answer", "section.question": "Question",
    "status.draft": "draft", "status.in_review": "in review", "status.approved": "approved", "status.rejected": "rejected",
    "status.archived": "archived", "status.published": "published", "status.any": "any",
    "review.queue": "Drafts waiting", "review.empty": "No drafts are waiting.", "review.stale": "Cases due for re-review",
    "review.nostale": "No case is due for re-review.", "review.pick": "Pick a draft on the left (j/k to move).",
    "review.ticket": "Source ticket {0}", "review.noticket": "The source ticket is not in the library.", "review.draft": "Draft",
    "review.unsourced": "no source", "review.from": "from message {0}", "review.tags": "Tags (click to select or drop)",
    "review.suggested": "suggested", "review.addtag": "Add from the taxonomy…", "review.duplicates": "Possible duplicates",
    "review.nodup": "No similar approved case.", "review.compare": "Compare", "review.merge": "Merge into this case",
    "review.approve": "Approve (a)", "review.edit": "Edit (e)", "review.reject": "Reject (r)",
    "review.approveEdits": "Save and approve", "review.cancel": "Cancel", "review.reason": "Why it is rejected",
    "review.rejectConfirm": "Reject", "review.reasonNeeded": "Give a reason for rejecting.",
    "review.approved": "{0} approved; it can be cited now.", "review.rejected": "{0} rejected.", "review.merged": "Merged into {0}.",
    "review.keys": "Keys: j/k next/previous · a approve · e edit · r reject · Esc cancel",
    "review.similarity": "similarity {0}", "review.diff": "Draft {0} against {1}", "review.forbidden": "This key's role may not review drafts.",
    "review.legend": "Highlighted: the ticket messages a sentence came from; dashed red: no source, check it.",
    "library.search": "Search", "library.query": "Words or a question", "library.k": "Results", "library.product": "Product",
    "library.tags": "Tags (comma-separated)", "library.kind": "Kind", "library.kind.any": "any",
    "library.kind.case": "case", "library.kind.article": "article", "library.status": "Status",
    "library.status.default": "approved/published", "library.explain": "Explain the ranking", "library.noresults": "No results.",
    "library.score": "score {0}", "library.gaps": "Unanswered questions", "library.nogaps": "No unanswered questions yet.",
    "library.mostCited": "Most cited", "library.lowestRated": "Lowest rated", "library.nostats": "No data yet.",
    "library.col.question": "Question", "library.col.at": "When", "library.col.ticket": "Ticket", "library.col.support": "Support",
    "library.col.case": "Case", "library.col.cited": "Cited", "library.col.helpful": "Helpful", "library.col.unhelpful": "Not helpful",
    "library.explain.retriever": "Retriever", "library.explain.rank": "Rank", "library.explain.score": "Score",
    "library.reviewerOnly": "Reviewer keys and above.",
    "error.forbidden": "Not allowed: {0}", "error.generic": "Something went wrong: {0}", "error.network": "The server cannot be reached.",
    "loading": "Loading…",
  },
};

const LANG_KEY = "casepilot.lang";
let lang = sessionStorage.getItem(LANG_KEY) || "zh";

export function getLang() { return lang; }

export function setLang(next) {
  lang = next in STRINGS ? next : "zh";
  sessionStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key, ...args) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ""));
}

export const LANGS = Object.keys(STRINGS);
