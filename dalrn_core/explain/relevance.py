"""Which revealed precedents each piece of evidence is closest to (cosine similarity)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt


class NearPrecedent(TypedDict):
    """One precedent close to a piece of evidence."""

    precedent_id: str
    similarity: float


def evidence_relevance(
    evidence_ids: list[str],
    evidence_vectors: npt.ArrayLike,
    precedent_ids: list[str],
    precedent_vectors: npt.ArrayLike,
    top: int = 3,
) -> dict[str, list[NearPrecedent]]:
    """For each evidence id, the `top` precedents by cosine similarity, best first."""
    e = np.asarray(evidence_vectors, dtype=np.float64)
    p = np.asarray(precedent_vectors, dtype=np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    similarity = e @ p.T
    out: dict[str, list[NearPrecedent]] = {}
    for i, evidence_id in enumerate(evidence_ids):
        order = np.argsort(-similarity[i], kind="stable")[:top]
        out[evidence_id] = [
            {"precedent_id": precedent_ids[j], "similarity": float(similarity[i, j])} for j in order
        ]
    return out
