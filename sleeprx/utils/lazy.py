"""Names of a package loaded on first use (PEP 562), so that importing one light module
does not import every heavy library through the package's ``__init__``."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict, exports: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``exports`` is read
    from its module (a full dotted name) when first asked for, then kept in
    ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> object:
        if name in exports:
            value = getattr(import_module(exports[name]), name)
            namespace[name] = value  # later look-ups do not come here
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
