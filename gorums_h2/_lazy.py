"""PEP 562 lazy exports, written once for ``gorums_h2``, ``gorums_h2.wire``
and ``gorums_h2.testing``: a package's public names are imported from
their modules on first access, so importing one layer costs only what it
uses. Imports nothing but :mod:`importlib`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()``
    is ``namespace``, for ``exports`` (public name -> the module defining it).

    ``__getattr__`` imports the name's module, caches the value in the
    package (later lookups skip it) and raises AttributeError for any other
    name; ``__dir__`` lists the package's globals and ``__all__``.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace["__all__"]))

    return __getattr__, __dir__
