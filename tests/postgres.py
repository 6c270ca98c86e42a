"""The PostgreSQL tests' cluster (``evals.throwaway.PostgresCluster``). Outside CI a machine without
PostgreSQL skips them, saying why; under ``CI=true`` (``.ci/run`` installs it) that is a failure."""

from __future__ import annotations

import os

import pytest

from evals.throwaway import PostgresCluster, Unavailable


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the PostgreSQL tests must run in CI (.ci/run installs PostgreSQL): {why}")
    pytest.skip(f"PostgreSQL tests skipped: {why} (install Debian's postgresql package, as .ci/run does)")


def start_cluster() -> PostgresCluster:
    try:
        return PostgresCluster()
    except Unavailable as e:
        unavailable(str(e))
        raise
