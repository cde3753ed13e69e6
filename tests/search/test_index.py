import numpy as np
import pytest

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.search.amplify import recall_at_k
from dalrn_core.search.index import IndexParams, PrecedentIndex, gpu_available


@pytest.fixture(scope="module")
def hnsw(subset):
    ids, vectors = subset
    return PrecedentIndex.build(vectors, ids)


def test_hnsw_recall_at_10_against_exact(hnsw, query_vectors):
    _, found = hnsw.search_positions(query_vectors, k=10)
    _, truth = hnsw.exact_positions(query_vectors, k=10)
    assert recall_at_k(found, truth) >= 0.97


def test_exact_matches_numpy(hnsw, query_vectors):
    scores, rows = hnsw.exact_positions(query_vectors[:5], k=10)
    reference = query_vectors[:5] @ hnsw.vectors.T
    np.testing.assert_allclose(scores, np.sort(reference, axis=1)[:, ::-1][:, :10], atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(reference, rows, axis=1), scores, atol=1e-5)


def test_search_returns_precedent_ids(hnsw, subset):
    ids, vectors = subset
    scores, found = hnsw.search(vectors[:3], k=5)
    assert found.shape == (3, 5) and scores.shape == (3, 5)
    assert list(found[:, 0]) == ids[:3]  # a stored paragraph finds itself first
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_ivf_option(subset, query_vectors):
    ids, vectors = subset
    ivf = PrecedentIndex.build(vectors, ids, kind="ivf", nprobe=8)
    _, found = ivf.search_positions(query_vectors, k=10)
    _, truth = ivf.exact_positions(query_vectors, k=10)
    assert recall_at_k(found, truth) >= 0.9


def test_save_load_is_content_addressed(hnsw, subset, query_vectors, tmp_path):
    cid = hnsw.save(tmp_path)
    assert cid.startswith("bafk")
    again = PrecedentIndex.build(subset[1], subset[0])
    assert again.save(tmp_path) == cid  # same vectors and parameters, same bytes
    loaded = PrecedentIndex.load(cid, tmp_path)
    assert loaded.ids == hnsw.ids and loaded.params == hnsw.params
    np.testing.assert_array_equal(loaded.search_positions(query_vectors)[1],
                                  hnsw.search_positions(query_vectors)[1])
    assert PrecedentIndex.latest(tmp_path).cid == cid
    other = PrecedentIndex.build(subset[1], subset[0], ef_search=64)
    assert other.save(tmp_path) != cid


def test_tampered_index_is_caught(hnsw, tmp_path):
    cid = hnsw.save(tmp_path)
    ids_file = tmp_path / cid / "ids.json"
    ids_file.write_text(ids_file.read_text().replace("#", "!", 1))
    with pytest.raises(IntegrityError, match="ids.json"):
        PrecedentIndex.load(cid, tmp_path)


def test_latest_is_none_before_any_build(tmp_path):
    assert PrecedentIndex.latest(tmp_path) is None


def test_bad_input_names_the_field(hnsw, subset):
    with pytest.raises(InputError, match="query_vectors"):
        hnsw.search(np.zeros((2, 7)))
    with pytest.raises(InputError, match="k"):
        hnsw.search(subset[1][:1], k=0)
    with pytest.raises(InputError, match="kind"):
        IndexParams(kind="lsh").check()
    with pytest.raises(InputError, match="ids"):
        PrecedentIndex.build(subset[1][:3], ["a", "a", "b"])


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs faiss-gpu and a CUDA device")
def test_exact_search_on_gpu_matches_cpu(subset, query_vectors):
    ids, vectors = subset
    flat = PrecedentIndex.build(vectors, ids, kind="flat")
    assert "Gpu" in type(flat.index).__name__
    scores, rows = flat.search_positions(query_vectors, k=10)
    reference = query_vectors @ vectors.T
    np.testing.assert_allclose(np.take_along_axis(reference, rows, axis=1), scores, atol=1e-4)


@pytest.mark.slow
def test_hnsw_recall_on_the_whole_corpus(corpus, embedder, query_vectors):
    vectors = embedder.encode(corpus.text.tolist())
    index = PrecedentIndex.build(vectors, corpus.precedent_id)
    _, found = index.search_positions(query_vectors, k=10)
    _, truth = index.exact_positions(query_vectors, k=10)
    assert recall_at_k(found, truth) >= 0.97
