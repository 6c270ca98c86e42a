"""Another version of a core module, loaded beside this checkout's for a before/after measurement.

``path`` is a module file (``git show REV:assistant/drafting.py > /tmp/before.py``) or a package folder
(``git archive REV assistant/redact | tar -x -C /tmp/before``, then ``/tmp/before/assistant/redact``).
It is loaded as ``assistant._NAME_under_test``, so its relative imports of the rest of the core
(``..errors``, ``.text``) resolve to this checkout's, and its own modules to the given version's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_version(path: Path, name: str) -> ModuleType:
    import assistant  # noqa: F401  (the package the version is loaded into must be imported first)

    module = f"assistant._{name}_under_test"
    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[loaded]  # a version loaded before, and its modules
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(module, path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path}: not a Python module or package")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses and relative imports look their module up there
    spec.loader.exec_module(mod)
    return mod
