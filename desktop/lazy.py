"""A module imported when first used, not when its user is imported.

The window paints before the list's arrays are needed: ``numpy`` (about 60 ms with the search
index's tables) is imported by the list's first read, which starts once the window is shown,
rather than before the first paint. Use::

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy", __name__, "np")

On first use the real module replaces the stand-in in the user's globals, so later uses cost
nothing. Safe from any thread: Python's import lock makes the import happen once.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class _LazyModule:
    def __init__(self, name: str, owner: str, alias: str) -> None:
        self._name = name
        self._owner = owner
        self._alias = alias

    def _load(self) -> ModuleType:
        module = importlib.import_module(self._name)
        owner = sys.modules.get(self._owner)
        if owner is not None and owner.__dict__.get(self._alias) is self:
            setattr(owner, self._alias, module)
        return module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported when first used by {self._owner}>"


def lazy_module(name: str, owner: str, alias: str) -> Any:
    """A stand-in for module ``name``, bound to ``alias`` in module ``owner``'s globals."""
    if name in sys.modules:
        return sys.modules[name]
    return _LazyModule(name, owner, alias)
