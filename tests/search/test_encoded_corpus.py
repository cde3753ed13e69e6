"""The CKKS encoding of the precedent matrix is made once per (index version, parameters)
and shared by every tenant and thread of the process; results stay those of plaintext."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from dalrn_core.search import ckks
from dalrn_core.search.ckks import EncodedCorpusCache, encoded_corpora
from dalrn_core.search.encrypted import TenantKeys, encrypted_scores

DIM = 384


@pytest.fixture(scope="module")
def documents():
    rows = np.random.default_rng(21).normal(size=(500, DIM))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _scores(keys, documents, query, version):
    blobs = encrypted_scores(keys.public_context(), keys.encrypt_query(query), documents,
                             corpus_version=version)
    return keys.decrypt_scores(blobs)


def test_a_second_tenant_reuses_the_first_ones_encoding(tenant_keys, documents):
    version, other = f"index-{uuid.uuid4()}", TenantKeys.generate()
    before = encoded_corpora.encodings
    for keys, row in ((tenant_keys, 3), (other, 77)):
        scores = _scores(keys, documents, documents[row], version)
        assert np.max(np.abs(scores - documents @ documents[row])) <= 1e-3
        assert np.argmax(scores) == row
    assert encoded_corpora.encodings - before == 1


def test_threads_that_miss_together_encode_once(tenant_keys, documents):
    version, results, errors = f"index-{uuid.uuid4()}", {}, []
    start = threading.Barrier(4)

    def score(row: int) -> None:
        try:
            start.wait()
            results[row] = _scores(tenant_keys, documents, documents[row], version)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    before = encoded_corpora.encodings
    threads = [threading.Thread(target=score, args=(row,)) for row in (5, 50, 150, 450)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert encoded_corpora.encodings - before == 1
    for row, scores in results.items():
        assert np.max(np.abs(scores - documents @ documents[row])) <= 1e-3


def test_another_version_or_scale_is_encoded_apart(tenant_keys, documents):
    coarse = TenantKeys.generate(scale_bits=30)  # same ring and primes, another scale
    version = f"index-{uuid.uuid4()}"
    before = encoded_corpora.encodings
    _scores(tenant_keys, documents, documents[1], version)
    changed = documents[::-1].copy()  # the next index version: same shape, other rows
    scores = _scores(tenant_keys, changed, documents[1], f"{version}-next")
    assert np.argmax(scores) == len(documents) - 2
    scores = _scores(coarse, documents, documents[1], version)
    assert np.max(np.abs(scores - documents @ documents[1])) <= 1e-2
    assert encoded_corpora.encodings - before == 3


def test_without_a_version_the_documents_content_names_them(tenant_keys, documents):
    before = encoded_corpora.encodings
    unique = documents[:40] * (1 + 1e-9 * np.random.default_rng().random())  # never seen
    for _ in range(2):
        _scores(tenant_keys, unique, unique[0], None)
    assert encoded_corpora.encodings - before == 1


def _corpus(tag: str) -> ckks.EncodedCorpus:
    return [[[tag]]]


def test_the_cache_keeps_its_byte_bound_dropping_the_least_recently_used():
    cache = EncodedCorpusCache(max_bytes=100)
    keys = [(f"v{i}", (1, 1), (0,), 1.0, 4) for i in range(4)]
    for key in keys[:2]:
        cache.get_or_encode(key, lambda key=key: (_corpus(key[0]), 40))
    cache.get_or_encode(keys[0], lambda: pytest.fail("kept corpus encoded again"))  # v0 used
    cache.get_or_encode(keys[2], lambda: (_corpus("v2"), 40))  # 120 > 100: v1 goes
    assert len(cache) == 2 and cache.kept_bytes == 80 and cache.encodings == 3
    assert cache.get_or_encode(keys[0], lambda: pytest.fail("v0 dropped")) == _corpus("v0")
    assert cache.get_or_encode(keys[1], lambda: (_corpus("again"), 40)) == _corpus("again")
    assert cache.get_or_encode(keys[3], lambda: (_corpus("huge"), 101)) == _corpus("huge")
    assert cache.kept_bytes <= 100 and cache.encodings == 5


def test_a_failed_encoding_lets_the_next_caller_try_again():
    cache = EncodedCorpusCache(max_bytes=100)
    key = ("v", (1, 1), (0,), 1.0, 4)

    def broken() -> tuple[ckks.EncodedCorpus, int]:
        raise MemoryError("no room")

    with pytest.raises(MemoryError):
        cache.get_or_encode(key, broken)
    assert cache.get_or_encode(key, lambda: (_corpus("ok"), 1)) == _corpus("ok")
