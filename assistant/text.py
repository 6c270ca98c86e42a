"""Chinese-aware text normalisation and keyword tokenisation.

Indexing and querying go through the same two functions, so a traditional-Chinese question meets a
simplified case: ``normalise`` folds full-width forms (NFKC) and converts traditional to simplified
at phrase level (``zhconv``, zh-cn: 網路 → 网络, 印表機 → 打印机); ``keyword_tokens`` cuts with jieba in
search mode, keeps product and error codes (``HP-M227``, ``E-1024``, ``0x8007``) as whole tokens,
drops stop words and filler, and adds CJK character bigrams so unsegmented variants still overlap.
"""

from __future__ import annotations

import logging
import marshal
import os
import re
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar, cast

# codes with separators (HP-M227, E-1024, v2.3.1); plain alphanumerics (0x8007, M227) are words already
_CODE = re.compile(r"[A-Za-z0-9]+(?:[-_./:][A-Za-z0-9]+)+")
_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff\uf900-\ufaff]+")
# a list item's marker at the start of a line: "1." "2、" "3)" "（4）" "-" "•"; not the start of an
# error code or a version ("13.A2 是进纸延迟", "1.2 版"), though "2.A4纸放入纸盒" is item 2
_NOT_A_NUMBER = r"(?![0-9]|[A-Za-z]+[0-9]+(?:[\s，。,;；：:]|$))"  # what may not follow "13."
LIST_MARK = re.compile(rf"^\s*(?:\d+(?:\.{_NOT_A_NUMBER}|[、)）])|[（(]\d+[)）]|[-*•])\s*")
_BAND = re.compile(r"^(\d+(?:\.\d+)?)(?:ghz|g)$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{2,}")

# spans a sentence never ends inside: URLs, `code`, file paths
_UNSPLIT = re.compile(r"`[^`\n]*`|(?:https?://|www\.)[!-~]*[\w/=&#%~-]"
                      r"|(?<![\w/])(?:[A-Za-z]:)?(?:[\\/][\w.\-]*[\w\-]){2,}")  # not a trailing stop
# full-width stops end a sentence anywhere; ASCII ones only before a space, the end or a CJK character
_STOP = re.compile(r"[。！？；]+[”’」』）)]*|[.!?;]+(?=\s|$|[\u3400-\u9fff])")


def sentences(line: str) -> list[str]:
    """``line`` cut into sentences, never inside a URL, a code span or a file path
    ("…/contact-us?lang=zh" stays whole), nor at a full stop inside a number or a code ("v2.3")."""
    keep = [m.span() for m in _UNSPLIT.finditer(line)]
    mark = LIST_MARK.match(line)  # "1. net stop spooler" is one item, not "1." and the rest
    out, start = [], 0
    for m in _STOP.finditer(line):
        if any(a <= m.start() < b for a, b in keep) or (mark and m.start() < mark.end()):
            continue
        out.append(line[start:m.end()].strip())
        start = m.end()
    out.append(line[start:].strip())
    return [x for x in out if x]


STOP_WORDS = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嗯 么 是 在 有 和 与 及 或 也 都 就 还 又 再 这 那
    这个 那个 这样 那样 个 之 其 我 我们 你 你们 您 他 她 它 他们 请 请问 问下 问一下
    一下 怎么 怎么办 怎样 如何 为什么 什么 哪里 哪个 可以 能 能不能 可不可以 是不是 有没有
    麻烦 帮忙 帮我 谢谢 你好 您好 客服 一个 一些 已经 但是 然后 因为 所以 如果 就是 还是
    现在 the a an of to in on for is are was be it and
    or not with my i you""".split()  # noqa: SIM905
)

_jieba_lock = threading.Lock()

# texts up to this many characters have their splits, bigrams and folded forms cached (``short_text_cache``)
CACHED_CHARS = 5000
_F = TypeVar("_F", bound=Callable[..., Any])


def short_text_cache(maxsize: int, limit: int = CACHED_CHARS) -> Callable[[_F], _F]:
    """An LRU cache of ``maxsize`` entries for a function of library text (its last positional
    argument), kept only for texts up to ``limit`` characters: the same records are split and scored
    again for every question that retrieves them, while entries of unbounded length would bound
    nothing."""

    def wrap(fn: _F) -> _F:
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def call(*args: Any) -> Any:
            return cached(*args) if len(args[-1]) <= limit else fn(*args)

        return cast(_F, call)

    return wrap


def _import_without_pkg_resources(name: str) -> Any:
    """Import jieba or zhconv without ``pkg_resources`` (0.1-0.2 s to import, and deprecated): both
    use it only to open their own data files, and open them by path when it cannot be imported."""
    with _jieba_lock:
        if name in sys.modules or "pkg_resources" in sys.modules:
            return __import__(name)
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # "import pkg_resources" fails
        try:
            return __import__(name)
        finally:
            del sys.modules["pkg_resources"]


@lru_cache(maxsize=1)
def _jieba() -> Any:
    # lazy: jieba costs 0.08 s at import and only tokenising needs it
    jieba = _import_without_pkg_resources("jieba")
    with _jieba_lock:
        jieba.setLogLevel(logging.WARNING)
        if not jieba.dt.initialized:
            _load_jieba_cache(jieba)
        jieba.initialize()  # builds (and caches) the prefix dictionary when the cache was not read
        return jieba


def _load_jieba_cache(jieba: Any) -> None:
    """jieba reads its prefix-dictionary cache with ``marshal.load`` on the open file, which reads it
    in small pieces: 1.65 s of every process's first tokenisation, where ``marshal.loads`` of the
    file's bytes takes 0.33 s. This reads jieba's own cache (default dictionary only) that way;
    anything unexpected is left to ``jieba.initialize``."""
    tk = jieba.dt
    if tk.dictionary is not None or tk.cache_file:
        return
    path = os.path.join(tk.tmp_dir or tempfile.gettempdir(), "jieba.cache")
    try:
        with open(path, "rb") as f:
            freq, total = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return
    if isinstance(freq, dict) and freq and isinstance(total, int):
        tk.FREQ, tk.total, tk.initialized = freq, total, True


def fold_width(text: str) -> str:
    """Full-width letters, digits and punctuation to their half-width forms (NFKC)."""
    return unicodedata.normalize("NFKC", text)


@lru_cache(maxsize=4096)
def _to_simplified(text: str) -> str:
    return str(_zhconv().convert(text, "zh-cn"))


@lru_cache(maxsize=1)
def _zhconv() -> Any:
    # lazy: zhconv costs 0.07 s at import and only normalising text needs it; once, since the import
    # takes the lock jieba's start-up holds
    return _import_without_pkg_resources("zhconv")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese, phrase level (網路 → 网络, 印表機 → 打印机)."""
    if not _CJK.search(text):
        return text
    return _to_simplified(text)


def normalise(text: str) -> str:
    """The form used for indexing and embedding: NFKC-folded, simplified, whitespace collapsed."""
    return re.sub(r"\s+", " ", to_simplified(fold_width(text))).strip()


def product_key(product: str) -> str:
    """A product name as compared (staleness, the desk): simplified, width-folded, lower-cased, without
    spaces, so that 雲賬通, 云账通 and ``云账通 `` are one product."""
    return re.sub(r"\s+", "", normalise(product)).lower()


def codes(text: str) -> list[str]:
    """Product and error codes in ``text`` (``HP-M227``, ``E-1024``, ``0x8007007e``), lower-cased."""
    text = fold_width(text).lower()
    found = [m.group(0) for m in _CODE.finditer(text)]
    found += [w for w in re.findall(r"[a-z0-9]+", text) if re.search(r"[a-z]", w) and re.search(r"[0-9]", w)]
    return found


def is_word(token: str) -> bool:
    """A word jieba's dictionary knows, or a Latin word or code; not a piece its HMM made of unknown
    text ("要开" of "要开哪个频段")."""
    return not _CJK.match(token) or bool(_jieba().dt.FREQ.get(token))


def content_words(text: str) -> list[str]:
    """The words that carry a question's meaning: jieba words of two or more characters (and codes),
    without stop words or filler, lower-cased, in order, without repeats."""
    text = normalise(text).lower()
    out = [m.group(0) for m in _CODE.finditer(text)]
    jieba = _jieba()
    for piece in _WORD.findall(text):
        if _CJK.match(piece):
            out.extend(w for w in jieba.lcut(piece) if len(w) >= 2 and w not in STOP_WORDS)
        elif piece not in STOP_WORDS and len(piece) >= 2:
            out.append(piece)
    return list(dict.fromkeys(out))


@short_text_cache(maxsize=16384, limit=64)
def _search_words(piece: str) -> tuple[str, ...]:
    """jieba's search-mode words of one run of CJK characters, without stop words: a case's title is in
    each of its chunks, so its runs are cut once per import rather than once per chunk."""
    return tuple(tok for tok in _jieba().lcut_for_search(piece) if tok not in STOP_WORDS)


def keyword_tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Tokens for the keyword index and keyword queries (lower-cased, stop words dropped)."""
    if not normalised:
        text = normalise(text)
    text = text.lower()
    tokens: list[str] = []
    # product and error codes stay whole (and their parts stay searchable through the rest)
    for m in _CODE.finditer(text):
        tokens.append(m.group(0))
    for piece in _WORD.findall(text):
        if _CJK.match(piece):
            tokens.extend(_search_words(piece))
        elif piece not in STOP_WORDS:
            tokens.append(piece)
    for run in _CJK_RUN.findall(text):
        tokens.extend(bg for i in range(len(run) - 1) if (bg := run[i : i + 2]) not in STOP_WORDS)
    # agents say "5G" and "2.4G" for the Wi-Fi bands that cases write as 5GHz and 2.4GHz: one token
    return [_BAND.sub(r"\1g", t) for t in tokens]


def version_key(v: str) -> tuple[int, ...]:
    """A product version as numbers for comparing ("2.10" > "2.9"); no number sorts first."""
    return tuple(int(x) for x in re.findall(r"\d+", v)) or (0,)
