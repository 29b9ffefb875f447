"""The manifest of a batch run: what it was run on, and which chunks are finished.

``manifest.json`` lives in the parts folder. Its ``inputs`` are hashes of everything
that decides the parts (the survey file's bytes, the model's model.json and
meta.json, the settings, the ids, the chunk size, the parts' format), so that a
resumed run only ever adds parts computed from the same inputs. Each finished chunk
is recorded with the sha256 of its part file, so that a resumed run can tell a part
that is still the one its chunk wrote from one that was damaged or replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ArtifactError, ConfigError
from sleeprx.utils.files import atomic_write_json
from sleeprx.utils.validation import Strict, validation_message

__all__ = [
    "FORMAT_VERSION",
    "ChunkRecord",
    "FragmentRecord",
    "Manifest",
    "file_sha256",
    "inputs_of",
    "model_sha256",
]

#: Bump when the parts' schema, the chunking or the manifest changes: old runs are then
#: refused. 2: every finished chunk carries its part's sha256. (A chunk's fragment record
#: came later without a bump: it is optional, and a chunk without one is merged from its
#: part.)
FORMAT_VERSION = 2
KIND = "sleeprx.batch_manifest"
NAME = "manifest.json"

#: How each input is named when it differs from the manifest's.
_CHANGED = {
    "survey_sha256": "the survey file changed",
    "model_sha256": "the model changed (model.json or meta.json)",
    "settings_sha256": "the settings changed",
    "ids_sha256": "the ids changed",
    "chunk_size": "the chunk size changed",
    "format_version": "it was written by another version of the batch format",
}

SHA256 = r"^[0-9a-f]{64}$"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_sha256(model_dir: Path) -> str:
    """One hash of a model folder's model.json and meta.json."""
    digest = hashlib.sha256()
    for name in ("model.json", "meta.json"):
        digest.update(_sha256((model_dir / name).read_bytes()).encode())
    return digest.hexdigest()


def inputs_of(
    survey_sha256: str,
    model_hash: str,
    settings: PrescribeSettings,
    ids: list[int] | None,
    chunk_size: int,
) -> dict:
    return {
        "survey_sha256": survey_sha256,
        "model_sha256": model_hash,
        "settings_sha256": _sha256(settings.model_dump_json().encode()),
        "ids_sha256": None if ids is None else _sha256(json.dumps(ids).encode()),
        "chunk_size": chunk_size,
        "format_version": FORMAT_VERSION,
    }


class FragmentRecord(Strict):
    """A part's text as the output file holds it (:mod:`sleeprx.batch.output`)."""

    format: Literal["csv", "json"]
    integer_changes: bool = Field(description="n_changes written as whole numbers")
    size: int = Field(ge=1, description="bytes")
    sha256: str = Field(pattern=SHA256)


class ChunkRecord(Strict):
    """A finished chunk: the summary its task returned, and its part file's sha256."""

    chunk: int = Field(ge=0)
    rows: int = Field(ge=0, description="rows of the chunk's table")
    valid: int = Field(ge=0, description="valid survey rows in the chunk")
    status: dict[str, int] = Field(description="status -> rows")
    violations: int = Field(ge=0)
    violation_lines: tuple[str, ...]
    skipped: int = Field(ge=0, description="rows without a valid id")
    skipped_lines: tuple[str, ...]
    first_problem: str | None
    sha256: str = Field(pattern=SHA256, description="of the part file")
    #: The part's text for the run's output format; None: none written (a manifest of an
    #: earlier version, or a part without rows); the driver then renders the part.
    fragment: FragmentRecord | None = None


class _File(Strict):
    """``manifest.json`` as written by :meth:`Manifest.save`."""

    kind: Literal["sleeprx.batch_manifest"]
    inputs: dict[str, Any]
    chunks_total: int = Field(ge=1)
    people_total: int = Field(ge=0)
    complete: bool
    done: dict[int, ChunkRecord]

    @model_validator(mode="after")
    def _keys_are_chunks(self) -> _File:
        for k, record in self.done.items():
            if not 0 <= k < self.chunks_total or record.chunk != k:
                raise ValueError(
                    f"done.{k}: chunk {record.chunk} recorded under {k}, of "
                    f"{self.chunks_total} chunks"
                )
        return self


@dataclass
class Manifest:
    """The inputs of a run and its finished chunks (chunk index -> its record)."""

    path: Path
    inputs: dict
    chunks_total: int
    people_total: int
    done: dict[int, ChunkRecord] = field(default_factory=dict)
    complete: bool = False

    def save(self) -> None:
        atomic_write_json(
            self.path,
            {
                "kind": KIND,
                "inputs": self.inputs,
                "chunks_total": self.chunks_total,
                "people_total": self.people_total,
                "complete": self.complete,
                "done": {str(k): self.done[k].model_dump(mode="json") for k in sorted(self.done)},
            },
        )

    @classmethod
    def resume(cls, path: Path, inputs: dict, chunks: Collection[int]) -> Manifest | None:
        """The manifest at ``path`` to continue a run of ``inputs`` cut into ``chunks``;
        ``None`` when there is none.

        Raises :class:`ConfigError` when it was made on other inputs, and
        :class:`ArtifactError` when it does not parse or an entry is malformed: a
        damaged manifest cannot say which parts to trust.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{path}: cannot read the manifest ({exc}){_START_OVER}") from None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ArtifactError(f"{path}: the manifest is not JSON ({exc}){_START_OVER}") from None
        if isinstance(raw, dict) and isinstance(raw.get("inputs"), dict):
            _check_inputs(path, raw["inputs"], inputs)  # before the entries: an old format
        try:
            read = _File.model_validate(raw)
        except ValidationError as exc:
            message = validation_message(exc, _File)
            raise ArtifactError(f"{path}: damaged manifest: {message}{_START_OVER}") from None
        extra = sorted(set(read.done) - set(chunks))
        if read.chunks_total != len(chunks) or extra:
            raise ArtifactError(
                f"{path}: damaged manifest: it records {read.chunks_total} chunks "
                f"{f'(and chunk {extra[0]}) ' if extra else ''}where this run has "
                f"{len(chunks)}{_START_OVER}"
            )
        return cls(path, read.inputs, read.chunks_total, read.people_total, read.done)


_START_OVER = "; run again without resume to start over"


def _check_inputs(path: Path, recorded: dict, inputs: dict) -> None:
    """Refuse to resume a run made on other inputs, saying what differs."""
    differs = [_CHANGED.get(k, k) for k in _CHANGED if recorded.get(k) != inputs.get(k)]
    if differs:
        raise ConfigError(
            f"{path}: cannot resume: {'; '.join(differs)} since this run started{_START_OVER}"
        )
