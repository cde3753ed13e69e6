"""The revealed precedents are described as revealed: text by CID, relevance by cosine."""

from __future__ import annotations

import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.search.precedents import (
    COSINE_TOLERANCE,
    RevealedPrecedent,
    check_revealed,
    describe_revealed,
)

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


def test_no_readable_evidence_gives_hits_without_relevance(small_index):
    """Every item confidential: the server holds no evidence vector, the revealed hits stand alone."""
    revealed = [RevealedPrecedent(precedent_id=small_index.ids[2], score=0.5)]
    hits = describe_revealed(revealed, small_index.cid, [], [], LocalContentStore())
    assert hits.ids == [small_index.ids[2]] and hits.relevance == {}


def test_a_precedent_outside_the_index_is_refused(small_index):
    revealed = [RevealedPrecedent(precedent_id=small_index.ids[0], score=1.0),
                RevealedPrecedent(precedent_id="no-such#1", score=0.5)]
    with pytest.raises(InputError) as err:
        describe_revealed(revealed, small_index.cid, ["e1"], [[1.0] * 384], LocalContentStore())
    assert [p.field for p in err.value.problems] == ["precedents[1].precedent_id"]


def _true_top(index, k):
    """A genuine reveal: the exact top-k cosines of a query made from one indexed row."""
    query = index.vectors[11].astype(np.float64)
    scores = index.vectors.astype(np.float64) @ query / np.linalg.norm(query)
    order = np.argsort(-scores, kind="stable")[:k]
    return [RevealedPrecedent(precedent_id=index.ids[i], score=float(scores[i])) for i in order]


def _refusal(revealed, index, k):
    with pytest.raises(InputError) as err:
        check_revealed(revealed, index, k)
    return [(p.field, p.rule) for p in err.value.problems]


def test_a_genuine_reveal_passes_unchanged(small_index):
    revealed = _true_top(small_index, 5)
    assert check_revealed(revealed, small_index, 5) == revealed
    assert check_revealed(revealed[:2], small_index, 5) == revealed[:2]
    assert check_revealed([], small_index, 5) == []


@pytest.mark.parametrize("score", [float("nan"), float("inf"), float("-inf")])
def test_a_score_that_is_not_a_finite_number_is_refused(small_index, score):
    revealed = _true_top(small_index, 3)
    revealed[1] = RevealedPrecedent(precedent_id=revealed[1].precedent_id, score=score)
    [(field, rule)] = _refusal(revealed, small_index, 3)
    assert field == "precedents[1].score" and "finite" in rule


@pytest.mark.parametrize("score", [1.5, -1.2, 1 + 2 * COSINE_TOLERANCE, 37.0])
def test_a_score_outside_the_cosine_range_is_refused(small_index, score):
    revealed = _true_top(small_index, 3)
    revealed[2] = RevealedPrecedent(precedent_id=revealed[2].precedent_id, score=score)
    [(field, rule)] = _refusal(revealed, small_index, 3)
    assert field == "precedents[2].score" and "[-1, 1]" in rule


@pytest.mark.parametrize("score", [1.0, -1.0, 1 + COSINE_TOLERANCE / 2, -1 - COSINE_TOLERANCE / 2])
def test_the_cosine_range_allows_decryption_noise_at_its_ends(small_index, score):
    revealed = [RevealedPrecedent(precedent_id=small_index.ids[0], score=score)]
    assert check_revealed(revealed, small_index, 1) == revealed


def test_a_precedent_not_in_the_index_is_refused(small_index):
    revealed = _true_top(small_index, 2) + [RevealedPrecedent(precedent_id="MIT#999", score=0.1)]
    [(field, rule)] = _refusal(revealed, small_index, 5)
    assert field == "precedents[2].precedent_id" and "not in index" in rule


def test_a_precedent_named_twice_is_refused(small_index):
    revealed = _true_top(small_index, 3)
    revealed.append(revealed[0])
    [(field, rule)] = _refusal(revealed, small_index, 5)
    assert field == "precedents[3].precedent_id" and "repeats precedents[0]" in rule


def test_more_precedents_than_the_search_asked_for_are_refused(small_index):
    [(field, rule)] = _refusal(_true_top(small_index, 4), small_index, 3)
    assert field == "precedents" and "k=3" in rule


def test_every_broken_rule_is_reported_at_once(small_index):
    good = _true_top(small_index, 2)
    revealed = [good[0], RevealedPrecedent(precedent_id="nope", score=float("nan")),
                good[0], RevealedPrecedent(precedent_id=good[1].precedent_id, score=-3.0)]
    fields = [field for field, _ in _refusal(revealed, small_index, 3)]
    assert fields == ["precedents", "precedents[1].precedent_id", "precedents[1].score",
                      "precedents[2].precedent_id", "precedents[3].score"]


def test_describing_refuses_a_bad_score_before_anything_is_stored(small_index, tmp_path):
    store = LocalContentStore(tmp_path / "store")
    revealed = [RevealedPrecedent(precedent_id=small_index.ids[0], score=float("inf"))]
    with pytest.raises(InputError):
        describe_revealed(revealed, small_index.cid, ["e1"], [[1.0] * 384], store)
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))


def test_the_flow_task_checks_against_the_search_k(small_index):
    from tasks.precedents import checked_reveal, describe_hits

    revealed = _true_top(small_index, 3)
    assert checked_reveal(revealed, small_index.cid, 3) == revealed
    with pytest.raises(InputError):
        checked_reveal(revealed, small_index.cid, 2)
    with pytest.raises(InputError):  # the flow's task checks before it describes anything
        describe_hits.fn(revealed, small_index.cid, ["e1"], [[1.0] * 384], k=2)
