"""The global model's versions, stored by content hash, and which one is current.

Each version is `data_dir()/fl/models/<sha256>.npz` (the hash of `model.model_hash`), and
`data_dir()/fl/global.json` names the current one with its round number. Loading checks
the hash, so a model file that was altered on disk is refused rather than trained on.
Writes go to a temporary file first and are renamed into place, so a crash never leaves a
half-written model or pointer.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.fl.model import build_model, get_parameters, model_hash


@dataclass(frozen=True)
class GlobalModel:
    """One version of the global model: the round that produced it and its hash."""

    round: int
    hash: str
    parameters: list[np.ndarray]


def save_model(parameters: list[np.ndarray]) -> str:
    """Store a version by its hash (idempotent); returns the hash."""
    digest = model_hash(parameters)
    path = sub_dir("fl", "models") / f"{digest}.npz"
    if not path.exists():
        buffer = io.BytesIO()
        np.savez(buffer, *[np.asarray(p, dtype=np.float32) for p in parameters])
        write_bytes_atomic(path, buffer.getvalue(), durable=True)
    return digest


def load_model(digest: str) -> list[np.ndarray]:
    """The stored version with this hash; IntegrityError if the file does not match it."""
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        raise InputError.one("model_hash", "must be 64 lowercase hex characters")
    path = sub_dir("fl", "models") / f"{digest}.npz"
    if not path.exists():
        raise InputError.one("model_hash", f"no stored model {digest[:12]}")
    with np.load(path) as archive:
        parameters = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    if model_hash(parameters) != digest:
        raise IntegrityError(f"model file {path.name} does not hash to its name")
    return parameters


def current(hidden: int = 0, seed: int = 0) -> GlobalModel:
    """The current global model, or round 0's initial model when none was trained yet."""
    pointer = sub_dir("fl") / "global.json"
    if not pointer.exists():
        params = get_parameters(build_model(hidden, seed))
        return GlobalModel(0, save_model(params), params)
    record = json.loads(pointer.read_text())
    return GlobalModel(int(record["round"]), record["hash"], load_model(record["hash"]))


def promote(round_number: int, digest: str) -> None:
    """Make the stored version `digest` current, as the result of `round_number`."""
    load_model(digest)  # refuses a hash that is not stored intact
    pointer = sub_dir("fl") / "global.json"
    write_bytes_atomic(
        pointer, json.dumps({"round": round_number, "hash": digest}).encode(), durable=True
    )
