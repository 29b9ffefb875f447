"""Write files whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sleeprx.utils.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_dir",
    "fresh_dir",
    "read_yaml",
    "staged_dir",
    "table_format",
    "write_table",
]

TABLE_FORMATS = ("csv", "json")

#: A folder sleeprx writes whole holds this file; only such a folder (or an empty one)
#: is ever replaced, so a mistyped output path cannot delete someone's own files.
MARKER = ".sleeprx-output"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A crash or an error leaves either the old file or the new one, never half of one.
    """
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A file handle on a temporary file beside ``path``, renamed into place on success.

    For output written piece by piece (``mode`` "wb" or "w", UTF-8): a crash or an
    error leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be written ({exc.strerror})") from None
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}  # no translation
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: object) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def table_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format ``path``'s extension names (csv without one).

    An unknown extension is refused rather than written as CSV under a name that
    promises something else (``.xlsx``).
    """
    if fmt is not None:
        if fmt not in TABLE_FORMATS:
            raise ConfigError(f"{fmt!r}: expected a table format, one of {list(TABLE_FORMATS)}")
        return fmt
    suffix = Path(path).suffix
    if not suffix:
        return "csv"
    if suffix.lower().removeprefix(".") not in TABLE_FORMATS:
        allowed = [f".{name}" for name in TABLE_FORMATS]
        raise ConfigError(f"{path}: unknown table extension {suffix!r}; expected one of {allowed}")
    return suffix.lower().removeprefix(".")


def write_table(table: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write a table as CSV or JSON (records), whole or not at all."""
    if table_format(path, fmt) == "csv":
        return atomic_write_text(path, table.to_csv(index=False))
    return atomic_write_text(path, table.to_json(orient="records", indent=2) + "\n")


def _written_by_sleeprx(folder: Path) -> bool:
    """The folder holds the run marker, or is a model folder (its meta.json says so)."""
    if (folder / MARKER).is_file():
        return True
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("kind", "")).startswith("sleeprx.")


def check_output_dir(final: str | Path) -> Path:
    """Refuse, before any work, an output folder sleeprx may not replace (see
    :func:`staged_dir`)."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise ArtifactError(f"{final}: exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not _written_by_sleeprx(final):
        raise ArtifactError(
            f"{final}: exists, is not empty and was not written by sleeprx; "
            f"choose another output folder (sleeprx replaces its output folder whole)"
        )
    return final


def fresh_dir(folder: str | Path) -> Path:
    """Make ``folder`` an empty folder marked as sleeprx's, for output written in place,
    under the rule of :func:`check_output_dir`."""
    folder = check_output_dir(folder)
    try:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / MARKER).write_text("Written by sleeprx; the next run replaces it.\n")
    except OSError as exc:
        raise ArtifactError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    return folder


def written_by_sleeprx(folder: str | Path) -> bool:
    """``folder`` holds sleeprx's marker (or is a model folder)."""
    return Path(folder).is_dir() and _written_by_sleeprx(Path(folder))


@contextmanager
def staged_dir(final: str | Path, *, mark: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name; on success it replaces ``final`` whole.

    ``final`` may not exist, be empty, or be a folder sleeprx wrote before (it holds
    :data:`MARKER`, or is a model folder); anything else is refused before any work
    is done. On failure the temporary folder is removed and ``final`` is left as it
    was. ``mark=False`` leaves the marker out (a model folder's meta.json marks it).
    """
    final = check_output_dir(final)
    staging = final.parent / f".{final.name}.partial"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if mark:
            (staging / MARKER).write_text("Written by sleeprx; the next run replaces it.\n")
    except OSError as exc:
        raise ArtifactError(f"{final}: cannot create the output folder ({exc.strerror})") from None
    try:
        yield staging
        _swap(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, final: Path) -> None:
    """Put ``staging`` in the place of ``final``, restoring ``final`` if that fails."""
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    try:
        staging.rename(final)
    except OSError:
        if old.exists():
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_yaml(path: Path, error: type[Exception], what: str) -> object:
    """Parse a YAML file, raising ``error`` with a message that names the file."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read as text ({exc})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
