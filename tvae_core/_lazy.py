"""Names a package exports but imports on first use (PEP 562), so that importing it stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], names: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level ``__getattr__`` and ``__dir__`` for ``package``'s ``__init__``.

    ``homes`` maps each lazily exported name to the module that defines it; the first
    access imports that module and keeps the value in the package, so later ones are plain
    lookups. ``names`` (the package's ``__all__``) are listed by ``dir()`` before use::

        __getattr__, __dir__ = lazy_exports(__name__, {"MyLoss": "my_plugin.losses"}, __all__)
    """
    namespace = sys.modules[package].__dict__
    listed = set(names) | set(homes)

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | listed)

    return __getattr__, __dir__
