"""A real ``chroma run`` server on loopback (``evals.throwaway.ChromaServer``), skipped where the
command is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.throwaway import ChromaServer, Unavailable


def start_chroma(folder: Path, port: int | None = None) -> ChromaServer:
    try:
        return ChromaServer(folder, port)
    except Unavailable as e:
        pytest.skip(str(e))
        raise
