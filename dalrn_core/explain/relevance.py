"""Which revealed precedents each piece of evidence is closest to (cosine similarity)."""

from __future__ import annotations

import numpy as np


def evidence_relevance(
    evidence_ids: list[str],
    evidence_vectors,
    precedent_ids: list[str],
    precedent_vectors,
    top: int = 3,
) -> dict[str, list[dict]]:
    """For each evidence id, the `top` precedents by cosine similarity, best first."""
    e = np.asarray(evidence_vectors, dtype=np.float64)
    p = np.asarray(precedent_vectors, dtype=np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    similarity = e @ p.T
    out = {}
    for i, evidence_id in enumerate(evidence_ids):
        order = np.argsort(-similarity[i], kind="stable")[:top]
        out[evidence_id] = [
            {"precedent_id": precedent_ids[j], "similarity": float(similarity[i, j])} for j in order
        ]
    return out
