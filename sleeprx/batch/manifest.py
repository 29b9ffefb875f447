"""The manifest of a batch run: what it was run on, and which chunks are finished.

``manifest.json`` lives in the parts folder. Its ``inputs`` are hashes of everything
that decides the parts (the survey file's bytes, the model's model.json and
meta.json, the settings, the ids, the chunk size, the parts' format), so that a
resumed run only ever adds parts computed from the same inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from sleeprx.settings import PrescribeSettings
from sleeprx.utils.errors import ConfigError
from sleeprx.utils.files import atomic_write_json

__all__ = ["FORMAT_VERSION", "Manifest", "inputs_of", "model_sha256"]

#: Bump when the parts' schema or the chunking changes: old parts are then refused.
FORMAT_VERSION = 1
KIND = "sleeprx.batch_manifest"
NAME = "manifest.json"

#: How each input is named when it differs from the manifest's.
_CHANGED = {
    "survey_sha256": "the survey file changed",
    "model_sha256": "the model changed (model.json or meta.json)",
    "settings_sha256": "the settings changed",
    "ids_sha256": "--ids changed",
    "chunk_size": "the chunk size changed",
    "format_version": "it was written by another version of the batch format",
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


@dataclass
class Manifest:
    """The inputs of a run and its finished chunks (chunk index -> its summary)."""

    path: Path
    inputs: dict
    chunks_total: int
    people_total: int
    done: dict[int, dict] = field(default_factory=dict)
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
                "done": {str(k): self.done[k] for k in sorted(self.done)},
            },
        )

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``; ``None`` when there is none or it is not ours."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("kind") != KIND:
            return None
        try:
            done = {int(k): dict(v) for k, v in raw["done"].items()}
            return cls(
                path,
                dict(raw["inputs"]),
                int(raw["chunks_total"]),
                int(raw["people_total"]),
                done,
                bool(raw.get("complete")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def check_inputs(self, inputs: dict) -> None:
        """Refuse to resume a run made on other inputs, saying what differs."""
        differs = [_CHANGED.get(k, k) for k in _CHANGED if self.inputs.get(k) != inputs.get(k)]
        if differs:
            raise ConfigError(
                f"{self.path}: cannot resume: {'; '.join(differs)} since this run started; "
                f"run without --resume to start over"
            )
