"""What the leak test plants and how it searches what the server holds for it.

Markers no other value shares (a sentence with random hex words, a BATNA with 15 or more
significant digits), the byte strings a copy of each would contain (float32 and JSON
renderings of an embedding, a double's text and bytes), and the searches: byte needles in
files and API answers, and stored 384-float vectors compared by meaning.
"""

from __future__ import annotations

import json
import secrets
import struct
from pathlib import Path

import numpy as np


def marker_sentence(tag: str) -> str:
    return f"The {tag} ledger entry {secrets.token_hex(8)} shows the shipment {secrets.token_hex(6)} left on time."


def marker_batna(base: float) -> float:
    """A BATNA no other number shares: its repr has 15 or more significant digits."""
    while True:
        value = base + int.from_bytes(secrets.token_bytes(6), "big") / 2 ** 48
        if len(repr(value)) >= 16:
            return value


def embedding_needles(vector: np.ndarray) -> list[bytes]:
    raw = np.asarray(vector, dtype="<f4").tobytes()
    needles = [raw[at:at + 48] for at in (0, len(raw) // 2, len(raw) - 48)]
    needles += [json.dumps(float(v)).encode() for v in vector[:4] if len(repr(float(v))) > 10]
    return needles


def batna_needles(value: float) -> list[bytes]:
    text = repr(value)
    return [text.encode(), text[:12].encode(), struct.pack("<d", value)]


def files_under(roots: list[Path]) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def holding(paths: list[Path], needles: list[bytes], extra: dict[str, bytes] | None = None) -> list[str]:
    found = []
    blobs = {str(p): p.read_bytes() for p in paths}
    blobs.update(extra or {})
    for name, data in blobs.items():
        found += [f"{name} holds needle {i} {n[:24]!r}" for i, n in enumerate(needles) if n in data]
    return found


def held_vectors(root: Path) -> np.ndarray:
    """Every unit-normalised 384-float vector stored under `root`: embedding-cache files and
    vectors in any JSON document (task results, records)."""
    held = [np.frombuffer(p.read_bytes(), dtype="<f4") for p in root.rglob("*.f32") if p.stat().st_size == 384 * 4]
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in ("", ".json") and path.stat().st_size < 5_000_000:
            held += [np.asarray(v, dtype=np.float32) for v in _vectors_in(path.read_bytes())]
    if not held:
        return np.zeros((0, 384), dtype=np.float32)
    matrix = np.vstack(held).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _vectors_in(data: bytes) -> list[list[float]]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return []
    found: list[list[float]] = []

    def walk(node):
        if isinstance(node, list):
            if len(node) == 384 and all(isinstance(x, float) for x in node):
                found.append(node)
            else:
                for child in node:
                    walk(child)
        elif isinstance(node, dict):
            for child in node.values():
                walk(child)

    walk(value)
    return found


def key_material(roots: list[Path]) -> dict[str, bytes]:
    """Every 32-byte secret key file under `roots` (seeds, signing, sealing and envelope keys)."""
    return {str(p): p.read_bytes() for p in files_under(roots)
            if p.suffix in (".key", ".seed", ".x25519") and p.stat().st_size == 32}
