"""The gateway checks a tenant's public context once per CID and keeps only the verdict."""

from __future__ import annotations

import pytest

from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.memo import BoundedMemo
from dalrn_core.search.ckks_keys import TenantKeys, key_id_of
from gateway.precedent_search import _context_verdict


@pytest.fixture(scope="module")
def keys():
    return TenantKeys.generate()


def test_a_verdict_is_the_checks_own_answer_and_outlives_the_bytes(tmp_path, keys):
    store = LocalContentStore(tmp_path / "content")
    public = store.put(keys.public_context())
    secret = store.put(keys.context.serialize(save_secret_key=True))
    assert _context_verdict(store, public) == (None, key_id_of(keys.public_context()))
    problem, _ = _context_verdict(store, secret)
    assert "secret key" in problem
    for cid in (public, secret):  # answered from the verdict: the store is not read again
        store._path(cid).unlink()
    assert _context_verdict(store, public) == (None, keys.key_id)
    assert "secret key" in _context_verdict(store, secret)[0]


def test_the_memo_is_bounded_least_recently_used_first():
    verdicts: BoundedMemo[str, tuple] = BoundedMemo(size=2)
    verdicts.put("a", (None, "1"))
    verdicts.put("b", (None, "2"))
    assert verdicts.get("a") == (None, "1")  # a is now the most recent
    verdicts.put("c", (None, "3"))
    assert (verdicts.get("a"), verdicts.get("b"), verdicts.get("c")) == ((None, "1"), None, (None, "3"))
