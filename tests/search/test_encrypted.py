import os
import stat
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import tenseal as ts

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.search.ckks import Packing
from dalrn_core.search.encrypted import RetiredKeyError, TenantKeys, encrypted_scores
from dalrn_core.search.rotation import KeyRegistry

DIM = 384


def unit_rows(n, seed):
    rows = np.random.default_rng(seed).normal(size=(n, DIM))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def documents():
    """More rows than one ciphertext holds, so the result spans two chunks."""
    packing = Packing(4096, DIM, 1)
    docs = unit_rows(packing.rows_per_chunk + 300, seed=7)
    assert Packing(4096, DIM, len(docs)).chunks == 2
    return docs


def test_scores_match_plaintext_across_chunks(tenant_keys, documents):
    query = documents[4000] + 0.3 * unit_rows(1, seed=8)[0]  # a near neighbour in chunk 2
    query /= np.linalg.norm(query)
    blobs = encrypted_scores(tenant_keys.public_context(), tenant_keys.encrypt_query(query),
                             documents)
    assert len(blobs) == 2
    scores = tenant_keys.decrypt_scores(blobs)
    plain = documents @ query
    assert scores.shape == (len(documents),)
    assert np.max(np.abs(scores - plain)) <= 1e-3
    assert list(np.argsort(-scores)[:10]) == list(np.argsort(-plain)[:10])
    assert np.argmax(scores) == 4000


def test_real_embeddings_rank_like_plaintext(tenant_keys, subset, query_vectors):
    _, vectors = subset
    for query in query_vectors[:3]:
        blobs = encrypted_scores(tenant_keys.public_context(),
                                 tenant_keys.encrypt_query(query), vectors)
        scores = tenant_keys.decrypt_scores(blobs)
        plain = vectors.astype(np.float64) @ query
        assert np.max(np.abs(scores - plain)) <= 1e-3
        assert list(np.argsort(-scores)[:10]) == list(np.argsort(-plain)[:10])


def test_odd_dimension_and_single_row(tenant_keys):
    docs = np.random.default_rng(3).uniform(-1, 1, size=(1, 7))
    query = np.random.default_rng(4).uniform(-1, 1, size=7)
    blobs = encrypted_scores(tenant_keys.public_context(), tenant_keys.encrypt_query(query),
                             docs)
    np.testing.assert_allclose(tenant_keys.decrypt_scores(blobs), docs @ query, atol=1e-3)


def test_public_context_cannot_decrypt(tenant_keys):
    public = ts.context_from(tenant_keys.public_context())
    assert public.is_public() and not public.has_secret_key()
    with pytest.raises(ValueError):
        public.secret_key()
    stranger = ts.ckks_vector(public, [0.25, 0.5])
    with pytest.raises(ValueError):
        stranger.decrypt()
    private = tenant_keys.context.serialize(save_secret_key=True)
    assert len(tenant_keys.public_context()) > 0 and private != tenant_keys.public_context()


def test_server_refuses_a_context_with_the_secret_key(tenant_keys):
    private = tenant_keys.context.serialize(save_secret_key=True)
    from dalrn_core.search import wire
    from dalrn_core.search.ckks_keys import key_id_of

    # a query envelope naming the private context's id, so only the secret check can fail
    _, count, body = wire.unpack(wire.QUERY, tenant_keys.encrypt_query(np.ones(4)), field="q")
    query = wire.pack(wire.QUERY, key_id_of(private), count, body)
    with pytest.raises(InputError, match="secret key"):
        encrypted_scores(private, query, np.ones((2, 4)))


@pytest.fixture(scope="module")
def other_keys():
    return TenantKeys.generate()


def test_query_under_another_key_is_refused(tenant_keys, other_keys):
    other = other_keys
    query = other.encrypt_query(np.ones(4))
    with pytest.raises(InputError, match="query.key_id"):
        encrypted_scores(tenant_keys.public_context(), query, np.ones((2, 4)))


def test_scores_under_another_key_are_refused(tenant_keys, other_keys):
    other = other_keys
    blobs = encrypted_scores(other.public_context(), other.encrypt_query(np.ones(4)),
                             np.ones((2, 4)))
    with pytest.raises(InputError, match=r"scores\[0\]"):
        tenant_keys.decrypt_scores(blobs)


def test_retired_key_is_refused_and_new_key_works(tmp_path):
    now = datetime(2026, 11, 1, tzinfo=UTC)
    registry = KeyRegistry(tmp_path / "registry.json")
    old = TenantKeys.generate(now=now)
    registry.register("acme", old.public_context(), now=now)
    assert registry.active_ids(now) == {old.key_id}
    new = old.rotate(now=now + timedelta(days=29))
    assert new.key_id != old.key_id and new.params == old.params
    registry.register("acme", new.public_context(), now=now + timedelta(days=29))
    active = KeyRegistry(tmp_path / "registry.json").active_ids(now + timedelta(days=29))
    assert active == {new.key_id}  # persisted, and the old key is retired
    docs = np.eye(4)
    with pytest.raises(RetiredKeyError, match="retired"):
        encrypted_scores(old.public_context(), old.encrypt_query(np.ones(4)), docs,
                         active_key_ids=active)
    blobs = encrypted_scores(new.public_context(), new.encrypt_query(np.arange(4.0)), docs,
                             active_key_ids=active)
    np.testing.assert_allclose(new.decrypt_scores(blobs), np.arange(4.0), atol=1e-3)
    # a key lapses by itself after its lifetime, rotated or not
    assert registry.active_ids(now + timedelta(days=29 + 31)) == set()
    assert new.is_active(now + timedelta(days=29 + 29))
    assert not new.is_active(now + timedelta(days=29 + 30))


def test_keys_round_trip_through_the_tenant_file(tenant_keys, tmp_path):
    path = tenant_keys.save(tmp_path / "tenant.keys")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = TenantKeys.load(path)
    assert loaded.key_id == tenant_keys.key_id
    assert loaded.expires_at == tenant_keys.expires_at
    docs = unit_rows(5, seed=1)
    blobs = encrypted_scores(tenant_keys.public_context(), loaded.encrypt_query(docs[0]), docs)
    np.testing.assert_allclose(tenant_keys.decrypt_scores(blobs), docs @ docs[0], atol=1e-3)
    np.testing.assert_allclose(loaded.decrypt_scores(blobs), docs @ docs[0], atol=1e-3)


def test_tampered_tenant_file_is_caught(tenant_keys, tmp_path):
    path = tenant_keys.save(tmp_path / "tenant.keys")
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF  # inside the public context
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError):
        TenantKeys.load(path)


def test_bad_input_names_the_field(tenant_keys):
    query = tenant_keys.encrypt_query(np.ones(4))
    with pytest.raises(InputError, match="documents"):
        encrypted_scores(tenant_keys.public_context(), query, np.ones((2, 5)))
    with pytest.raises(InputError, match="query"):
        encrypted_scores(tenant_keys.public_context(), b"nonsense" * 20, np.ones((2, 4)))
    with pytest.raises(InputError, match="vector"):
        tenant_keys.encrypt_query([np.nan, 1.0])


def test_registering_a_key_by_id_rewrites_the_record_only_when_it_changes(tmp_path):
    now = datetime(2026, 11, 1, tzinfo=UTC)
    path = tmp_path / "registry.json"
    registry = KeyRegistry(path)
    first = registry.register_id("acme", "a" * 64, now=now)
    written = path.stat().st_ino, path.stat().st_mtime_ns
    assert registry.register_id("acme", "a" * 64, now=now + timedelta(days=1)) == first
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == written  # the same file: nothing rewritten
    registry.register_id("acme", "b" * 64, now=now + timedelta(days=2))
    assert KeyRegistry(path).active_ids(now + timedelta(days=2)) == {"b" * 64}  # the first is retired
    with pytest.raises(InputError, match="key_id"):
        registry.register_id("acme", "not hex", now=now)
