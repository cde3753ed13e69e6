"""The revealed precedents are described as revealed: text by CID, relevance by cosine."""

from __future__ import annotations

import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.search.precedents import RevealedPrecedent, describe_revealed

EVIDENCE = ["The licensee must cure any breach within 30 days.",
            "Redistribution of the source code must retain the copyright notice."]


def test_hits_are_the_revealed_ones_with_their_text_and_cosine_relevance(small_index, embedder, corpus):
    store = LocalContentStore()
    chosen = [small_index.ids[7], small_index.ids[3]]
    revealed = [RevealedPrecedent(precedent_id=pid, score=0.9 - k / 10) for k, pid in enumerate(chosen)]
    vectors = embedder.encode(EVIDENCE).tolist()
    hits = describe_revealed(revealed, small_index.cid, ["e1", "e2"], vectors, store)
    assert hits.ids == chosen and [h.score for h in hits.precedents] == [0.9, 0.8]
    texts = corpus.set_index("precedent_id").text
    for hit in hits.precedents:
        assert store.get(hit.cid).decode() == texts[hit.precedent_id]
    rows = small_index.vectors[[small_index.ids.index(p) for p in chosen]].astype(np.float64)
    for evidence_id, vector in zip(["e1", "e2"], vectors):
        expected = rows @ np.asarray(vector) / np.linalg.norm(rows, axis=1) / np.linalg.norm(vector)
        got = {c.precedent_id: c.similarity for c in hits.relevance[evidence_id]}
        assert got == pytest.approx(dict(zip(chosen, expected)), abs=1e-6)
    assert hits.receipt_fields()["outputs"] == {"revealed": [h.cid for h in hits.precedents]}


def test_nothing_revealed_gives_no_hits(small_index):
    hits = describe_revealed([], small_index.cid, ["e1"], [[1.0] * 384], LocalContentStore())
    assert hits.precedents == [] and hits.relevance == {}


def test_a_precedent_outside_the_index_is_refused(small_index):
    revealed = [RevealedPrecedent(precedent_id=small_index.ids[0], score=1.0),
                RevealedPrecedent(precedent_id="no-such#1", score=0.5)]
    with pytest.raises(InputError) as err:
        describe_revealed(revealed, small_index.cid, ["e1"], [[1.0] * 384], LocalContentStore())
    assert err.value.problems[0].field == "revealed[1].precedent_id"
