"""``casepilot`` run in this process: ``main(argv)`` with its environment variables, working folder,
standard input and output swapped in for the call and restored after, so that tests stay independent.
It is much faster than a subprocess (no interpreter start, no re-import of Chroma and jieba per
command); the process contract itself (exit codes, closed pipes, signals, the installed script) keeps
its subprocess tests (tests/test_cli.py, tests/test_crash.py)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from api.cli import main


@dataclass
class Ran:
    """What a run left: the attributes of ``subprocess.CompletedProcess`` that the tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*argv: str, env: Mapping[str, str | None] | None = None, stdin: str | None = None,
            cwd: str | Path | None = None) -> Ran:
    """``casepilot ARGV...`` in this process; ``env`` sets (or, with None, removes) variables for the call."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_io = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    try:
        for k, v in (env or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin or ""), out, err
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's own errors (exit 2) and --help (exit 0)
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_io
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Ran(code, out.getvalue(), err.getvalue())
