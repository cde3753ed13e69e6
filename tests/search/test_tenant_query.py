"""The tenant's side of store-based search (`tenant_query`): the tenant encrypts, the server
scores by CID through the content store, the tenant decrypts; the ranking is the plaintext
one and the server side never holds the secret key."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import tenseal as ts

from dalrn_core.errors import InputError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.search.encrypted import score_stored_query
from dalrn_core.search.rotation import KeyRegistry
from dalrn_core.search.tenant_query import (
    prepare_search,
    query_vector,
    reveal_precedents,
    tenant_key_path,
    tenant_keys,
)

TEXTS = ["The supplier delivered the goods three weeks late.",
         "The buyer withheld the final payment until the defects were repaired."]


@pytest.fixture()
def tenant_side(tmp_path, monkeypatch, embedder):
    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    query = query_vector(TEXTS)
    rng = np.random.default_rng(7)
    docs = rng.normal(size=(300, query.size)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    # A few documents close to the query, so the top of the ranking is not decided by noise.
    for row, weight in zip((11, 150, 299), (0.9, 0.7, 0.5)):
        docs[row] = weight * query + (1 - weight) * docs[row]
    return LocalContentStore(tmp_path / "content"), KeyRegistry(tmp_path / "registry.json"), docs


def _search(store, registry, docs, k):
    request = prepare_search("acme", TEXTS, store, k=k, registry=registry)
    score_cids = score_stored_query(store, request["context_cid"], request["query_cid"], docs,
                                    active_key_ids=registry.active_ids())
    ids = [f"p-{i:03d}" for i in range(len(docs))]
    return request, score_cids, reveal_precedents("acme", score_cids, ids, store, k)


def test_top_k_equals_the_plaintext_ranking(tenant_side):
    store, registry, docs = tenant_side
    _, _, hits = _search(store, registry, docs, k=8)
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(docs)
    ref_scores, ref_rows = index.search(query_vector(TEXTS)[None, :], 8)
    assert [h["precedent_id"] for h in hits] == [f"p-{i:03d}" for i in ref_rows[0]]
    assert [h["precedent_id"] for h in hits][:3] == ["p-011", "p-150", "p-299"]
    np.testing.assert_allclose([h["score"] for h in hits], ref_scores[0], atol=1e-4)


def test_the_server_side_never_holds_the_secret_key(tenant_side, tmp_path):
    store, registry, docs = tenant_side
    request, score_cids, _ = _search(store, registry, docs, k=3)
    public = ts.context_from(store.get(request["context_cid"]))
    assert not public.has_secret_key() and public.has_galois_keys()
    secret_path = tmp_path / "secret.bin"
    tenant_keys("acme").context.secret_key().data.save(str(secret_path))
    # A slice of the key's serialisation past its header: present in any copy of the key.
    marker = secret_path.read_bytes()[64:4160]
    key_file = (tmp_path / "tenant" / "keys" / "tenant-acme.ckks").read_bytes()
    blobs = [p.read_bytes() for p in (tmp_path / "content").rglob("*") if p.is_file()]
    assert len(blobs) == 2 + len(score_cids)  # context, query, scores: nothing else
    assert marker in key_file  # the search below would see the key if it were there
    assert not any(marker in blob for blob in blobs)
    store.put(key_file)  # and it does see a leaked key file
    assert any(marker in p.read_bytes() for p in (tmp_path / "content").rglob("*") if p.is_file())


def test_a_query_under_a_retired_key_is_refused(tenant_side):
    from dalrn_core.search.encrypted import RetiredKeyError

    store, registry, docs = tenant_side
    request = prepare_search("acme", TEXTS, store, k=3, registry=registry)
    registry.retire(request["key_id"])
    with pytest.raises(RetiredKeyError):
        score_stored_query(store, request["context_cid"], request["query_cid"], docs,
                           active_key_ids=registry.active_ids())


def test_cli_encrypted_search_ranks_like_exact_dot_products(small_index, tmp_path, monkeypatch):
    from dalrn_cli.search import search

    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    text = "The licensee may redistribute the software provided the notice is kept."
    result = search(text, k=5, encrypted=True, tenant="cli-test")
    exact = small_index.vectors @ query_vector([text])
    expected = [small_index.ids[i] for i in np.argsort(-exact, kind="stable")[:5]]
    assert [h["precedent_id"] for h in result["hits"]] == expected


def test_a_second_query_under_a_known_context_is_scored_without_reading_it(tenant_side):
    """The worker keeps the context's key id by CID and its evaluator by key id: the
    megabytes of rotation keys are read and hashed once, and the scores stay right."""
    store, registry, docs = tenant_side
    first, _, hits = _search(store, registry, docs, k=3)
    store._path(first["context_cid"]).unlink()  # gone from the store: a read now would fail
    second = prepare_search("acme", TEXTS[::-1], store, k=3, registry=registry)
    assert second["context_cid"] == first["context_cid"]
    store._path(first["context_cid"]).unlink()  # prepare_search put it back; take it away again
    score_cids = score_stored_query(store, second["context_cid"], second["query_cid"], docs,
                                    active_key_ids=registry.active_ids())
    again = reveal_precedents("acme", score_cids, [f"p-{i:03d}" for i in range(len(docs))], store, 3)
    assert [h["precedent_id"] for h in again] == [h["precedent_id"] for h in hits]


def test_keys_kept_from_the_query_decrypt_after_the_key_file_rotated(tenant_side):
    """A tenant process playing many disputes passes the keys it encrypted under: they
    decrypt that query's scores although the key file now holds a rotated key."""
    store, registry, docs = tenant_side
    before = tenant_keys("acme")
    request, score_cids, hits = _search(store, registry, docs, k=3)
    before.rotate().save(tenant_key_path("acme"))
    assert tenant_keys("acme").key_id != request["key_id"]  # the file rotated
    ids = [f"p-{i:03d}" for i in range(len(docs))]
    with pytest.raises(InputError, match="not this tenant's key"):
        reveal_precedents("acme", score_cids, ids, store, 3)  # the current key cannot read them
    kept = reveal_precedents("acme", score_cids, ids, store, 3, keys=before)
    assert kept == hits
