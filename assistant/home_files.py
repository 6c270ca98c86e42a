"""Files the library's owner edits in its home folder (``redaction.yaml``, ``promise_policy.yaml``):
read and parsed at first use, and again only when the file's modification time changes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import ConfigError

T = TypeVar("T")

_CACHE: dict[Path, tuple[float, Any]] = {}


def read_home_file(path: Path, parse: Callable[[str], T], missing: Callable[[], T]) -> T:
    """``parse`` of the text of ``path`` (which raises ``ConfigError`` naming the file when it is
    malformed), or ``missing()`` when there is no such file."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return missing()
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cast(T, cached[1])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    value = parse(text)
    _CACHE[path] = (mtime, value)
    return value
