"""The one strict base for validated settings, and the one way their errors read.

Every configuration sleeprx reads (survey descriptions, prescription settings,
pipelines) is a pydantic model derived from :class:`Strict`: unknown keys are refused
and values are frozen. :func:`validate` turns pydantic's errors into one line that
names each key, the value found and, for an unknown key, the keys allowed there and
the one it most likely misspells.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from difflib import get_close_matches
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, validate_call

__all__ = ["Strict", "checked_call", "validate", "validation_message"]

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


class Strict(BaseModel):
    """A frozen pydantic model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validate(model: type[M], raw: object, error: type[Exception], source: str) -> M:
    """``model`` validated from ``raw``; a problem raises ``error`` naming ``source``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{source}: {validation_message(exc, model)}") from None


def checked_call(error: type[Exception]) -> Callable[[F], F]:
    """Check a public function's arguments against its annotations, once, at the call.

    ``pydantic.validate_call``: write the contract in the signature
    (``chunk_size: Annotated[int, Field(ge=1)]``); a bad argument raises ``error``
    in one line naming the function, the argument and the value found, before the
    body runs. Errors raised inside the body pass through unchanged.
    """

    def decorate(fn: F) -> F:
        checked = validate_call(config=ConfigDict(arbitrary_types_allowed=True))(fn)
        names = list(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return checked(*args, **kwargs)
            except ValidationError as exc:
                if exc.title != fn.__name__:
                    raise  # not about the arguments: the body's own
                raise error(f"{fn.__name__}: {_arguments_message(exc, names)}") from None

        return typing.cast(F, call)

    return decorate


def _arguments_message(exc: ValidationError, names: list[str]) -> str:
    """The first problem of each argument (a union reports one per member)."""
    parts: dict[str, str] = {}
    for e in exc.errors():
        where = e["loc"][0] if e["loc"] else "(arguments)"
        name = names[where] if isinstance(where, int) and where < len(names) else str(where)
        parts.setdefault(name, f"argument {name}: {e['msg']} (found {e.get('input')!r})")
    return "; ".join(parts.values())


def validation_message(exc: ValidationError, root: type[BaseModel] | None = None) -> str:
    """Each problem as ``key 'a.b': message (found value)``, joined by ``; ``.

    An unknown key close to an allowed one says which (``did you mean 'modifiable'?``);
    the required key it was meant for is then not reported missing as well.
    """
    errors = exc.errors()
    meant = {}  # the location of a required key -> the unknown key that misspells it
    for e in errors:
        if e["type"] == "extra_forbidden" and root is not None:
            near = _near(str(e["loc"][-1]), _allowed_keys(root, e["loc"][:-1]))
            if near is not None:
                meant[(*e["loc"][:-1], near)] = e["loc"]
    parts: list[str] = []
    missing: dict[tuple, tuple[int, list[str]]] = {}  # parent -> (its part, keys missing)
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(root, e["loc"][:-1]) if root is not None else []
            near = _near(str(e["loc"][-1]), allowed)
            hint = f" (did you mean '{near}'?)" if near is not None else ""
            parts.append(f"unknown key '{loc}'; allowed keys here: {allowed}{hint}")
        elif e["type"] == "missing":
            if tuple(e["loc"]) not in meant:
                _add_missing(parts, missing, e["loc"])
        elif e["type"] in ("value_error", "assertion_error"):
            message = e["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {message}" if loc else message)
        else:
            parts.append(f"key '{loc or '(top level)'}': {e['msg']} (found {e.get('input')!r})")
    return "; ".join(parts)


def _add_missing(parts: list[str], missing: dict, loc: tuple) -> None:
    """One part per place with keys missing: ``keys ['a', 'b'] are required in 'x.0'``."""
    parent, key = tuple(loc[:-1]), str(loc[-1])
    if parent not in missing:
        missing[parent] = (len(parts), [])
        parts.append("")
    at, keys = missing[parent]
    keys.append(key)
    where = ".".join(str(p) for p in parent)
    if len(keys) == 1:
        parts[at] = f"key '{'.'.join([*map(str, parent), key])}' is required"
    else:
        parts[at] = f"keys {keys} are required" + (f" in '{where}'" if where else "")


def _near(key: str, allowed: list[str]) -> str | None:
    """The allowed key ``key`` most likely misspells, if one is close."""
    found = get_close_matches(key, allowed, n=1, cutoff=0.75)
    return found[0] if found else None


def _allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue  # an item of a list or tuple: same model as the list's items
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return sorted(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``tuple[Rule, ...] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
