import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.search.embed import DIM, MODEL_TAG, Embedder, EmbeddingCache, text_hash

MIT_DISCLAIMER = ('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR '
                  "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, "
                  "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.")
BSD_DISCLAIMER = ('THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" '
                  "AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE "
                  "IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE "
                  "ARE DISCLAIMED.")
PATENT_GRANT = ("Each Contributor hereby grants to You a perpetual, worldwide, non-exclusive, "
                "no-charge, royalty-free, irrevocable patent license to make, have made, use, "
                "offer to sell, sell, import, and otherwise transfer the Work.")
TERMINATION = ("This License and the rights granted hereunder will terminate automatically if "
               "You fail to comply with terms herein and fail to cure such breach within 30 "
               "days of becoming aware of the breach.")


@pytest.fixture()
def fresh(embedder, tmp_path):
    return Embedder(embedder.model, EmbeddingCache(tmp_path / "emb"))


def test_vectors_are_unit_float32(fresh):
    v = fresh.encode([MIT_DISCLAIMER, PATENT_GRANT])
    assert v.shape == (2, DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_similarity_follows_meaning(fresh):
    mit, bsd, patent, term = fresh.encode([MIT_DISCLAIMER, BSD_DISCLAIMER, PATENT_GRANT,
                                           TERMINATION])
    # two warranty disclaimers are closer to each other than to a patent grant or a
    # termination clause
    assert mit @ bsd > max(mit @ patent, mit @ term) + 0.1
    assert bsd @ mit > max(bsd @ patent, bsd @ term) + 0.1


def test_cache_hit_is_identical_and_needs_no_model(fresh, tmp_path):
    texts = [TERMINATION, PATENT_GRANT, TERMINATION]
    calls = []
    first = fresh.encode(texts, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3)
    assert (tmp_path / "emb" / text_hash(TERMINATION)[:2]).is_dir()
    np.testing.assert_array_equal(first[0], first[2])
    # an embedder without any model can only answer from the cache
    cached = Embedder(None, EmbeddingCache(tmp_path / "emb")).encode(texts)
    assert cached.tobytes() == first.tobytes()


def test_torn_cache_file_is_recomputed(fresh, tmp_path):
    v = fresh.encode([PATENT_GRANT])
    key = text_hash(PATENT_GRANT)
    (tmp_path / "emb" / key[:2] / f"{key}.f32").write_bytes(b"\0" * 10)
    np.testing.assert_array_equal(fresh.encode([PATENT_GRANT]), v)


def test_bad_input_names_the_field(fresh):
    with pytest.raises(InputError, match=r"texts\[1\]"):
        fresh.encode(["fine", "  "])
    with pytest.raises(InputError, match="batch_size"):
        fresh.encode(["fine"], batch_size=0)


def test_cache_key_names_the_model(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_EMBEDDINGS_DIR", str(tmp_path / "shared"))
    ours = Embedder(embedder.model)
    vector = ours.encode([PATENT_GRANT])[0]
    key = text_hash(PATENT_GRANT)
    assert (tmp_path / "shared" / MODEL_TAG / key[:2] / f"{key}.f32").exists()
    # the same text under another model's tag is another entry: no vector is shared
    other = EmbeddingCache(model="another-model")
    assert other.root == tmp_path / "shared" / "another-model" and other.get(key) is None
    np.testing.assert_array_equal(EmbeddingCache().get(key), vector)
    with pytest.raises(InputError, match="cache"):
        Embedder(embedder.model, other)
    with pytest.raises(InputError, match="model"):
        Embedder.load("another-model")


def test_embed_task_cache_key_includes_the_model():
    from types import SimpleNamespace

    from tasks.embed import embed_texts

    ctx = SimpleNamespace(task=embed_texts)  # what TASK_SOURCE reads of a task run context

    def key(**inputs):
        return embed_texts.cache_policy.compute_key(task_ctx=ctx, inputs=inputs, flow_parameters={})

    assert key(texts=[PATENT_GRANT], model=MODEL_TAG) is not None
    assert key(texts=[PATENT_GRANT], model=MODEL_TAG) == key(texts=[PATENT_GRANT], model=MODEL_TAG)
    assert key(texts=[PATENT_GRANT], model=MODEL_TAG) != key(texts=[PATENT_GRANT], model="another-model")
