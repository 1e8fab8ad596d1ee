"""Package exports that load their module only when used (PEP 562).

A package `__init__` lists its public names and the submodule each lives in; `from hf_nlp.text
import StringLookup` then imports `hf_nlp.text.lookup` alone, so importing one module of a package
never loads the others (and their heavy dependencies), and no package `__init__` can create an
import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, table: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`(__getattr__, __dir__, __all__)` for `package`; `table` has one line per submodule,
    `module: name name ...`, naming the public names that submodule holds."""
    exports = {name: module.strip() for module, names in (line.split(":") for line in table.strip().splitlines())
               for name in names.split()}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)


__all__ = ["lazy_exports"]
