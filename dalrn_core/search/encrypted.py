"""Search the server cannot read: CKKS-encrypted query scored against plaintext precedents.

Protocol (tenant = the party's CLI or SDK, server = the flow worker):

1. Tenant: ``keys = TenantKeys.generate()``; sends ``keys.public_context()`` (no secret
   key) and ``keys.encrypt_query(vector)``.
2. Server: ``encrypted_scores(public_context, query, documents, active_key_ids=...)``
   returns one ciphertext per chunk of documents holding their inner products with the
   query (diagonal method, see `dalrn_core.search.ckks`). It learns neither the query nor
   the scores. A query under a key that is not active (rotated out or expired) is refused
   with `RetiredKeyError` before any computation.
3. Tenant: ``keys.decrypt_scores(blobs)`` gives one score per document row and ranks.

Ciphertexts and scores are never logged here, and callers must not cache or log them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection

import numpy as np
import tenseal as ts

from dalrn_core.errors import InputError, Problem
from dalrn_core.evidence.store import ContentStore
from dalrn_core.memo import BoundedMemo
from dalrn_core.search import ckks, wire
from dalrn_core.search.ckks_keys import DEFAULT_LIFETIME, TenantKeys, key_id_of

__all__ = ["DEFAULT_LIFETIME", "RetiredKeyError", "TenantKeys", "encrypted_scores",
           "key_id_of", "score_stored_query"]


class RetiredKeyError(InputError):
    """The query's key is not among the active keys: the tenant must rotate."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(Problem("query.key_id", f"key {key_id} is retired or unknown; "
                                 "encrypt the query under the tenant's current key"),
                         subject="encrypted query")


class _PublicContexts:
    """Parsed public contexts by key id: parsing the rotation keys costs a fraction of a
    second, and one key serves many queries. Holds public material only."""

    def __init__(self, size: int = 4) -> None:
        self.size, self.lock = size, threading.Lock()
        # The TenSEAL context is kept beside its evaluator: the SEAL objects the evaluator
        # uses live inside it.
        self.items: OrderedDict[str, tuple[ckks.Evaluator, ts.Context]] = OrderedDict()

    def get(self, key_id: str, public_context: Callable[[], bytes]) -> ckks.Evaluator:
        """The evaluator of `key_id`; `public_context()` gives its bytes, read only on a miss."""
        with self.lock:
            if key_id in self.items:
                self.items.move_to_end(key_id)
                return self.items[key_id][0]
        try:
            context = ts.context_from(public_context())
        except (ValueError, RuntimeError, TypeError) as exc:  # TenSEAL's errors on bad bytes
            raise InputError.one("public_context", f"is not a TenSEAL context ({exc})") from None
        if context.has_secret_key():
            raise InputError.one("public_context", "holds a secret key; send only the "
                                 "public context")
        if not context.has_galois_keys():
            raise InputError.one("public_context", "has no rotation (Galois) keys")
        evaluator = ckks.Evaluator(context.seal_context().data, context.galois_keys().data)
        with self.lock:
            self.items[key_id] = (evaluator, context)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return evaluator


_CONTEXTS = _PublicContexts()


def encrypted_scores(public_context: bytes, query: bytes, documents: np.ndarray,
                     active_key_ids: Collection[str] | None = None,
                     corpus_version: str | None = None) -> list[bytes]:
    """Encrypted inner products of an encrypted query with every document row.

    Parameters
    ----------
    public_context : bytes
        The tenant's public context (`TenantKeys.public_context`).
    query : bytes
        The tenant's encrypted query (`TenantKeys.encrypt_query`).
    documents : numpy.ndarray
        Plaintext document vectors, shape ``(n, d)`` with ``d`` the query's dimension.
    active_key_ids : collection of str, optional
        Ids of the keys the server currently accepts; when given, a query under any other
        key raises `RetiredKeyError`.
    corpus_version : str, optional
        A name that changes whenever `documents` do, such as the precedent index's CID.
        The plaintext encoding of `documents` is kept per process under it (and the context
        parameters), so later queries from any tenant skip encoding and hashing; without
        it the documents' sha256 is their name.

    Returns
    -------
    list of bytes
        Score envelopes, one per chunk of ``slots - ceil(d/2) + 1`` rows, in row order;
        only the tenant can decrypt them (`TenantKeys.decrypt_scores`).
    """
    if not isinstance(public_context, (bytes, bytearray)) or not public_context:
        raise InputError.one("public_context", "must be non-empty bytes")
    return _scores_under(key_id_of(bytes(public_context)), lambda: bytes(public_context), query, documents,
                         active_key_ids, corpus_version)


def _scores_under(context_id: str, public_context: Callable[[], bytes], query: bytes, documents: np.ndarray,
                  active_key_ids: Collection[str] | None, corpus_version: str | None) -> list[bytes]:
    """`encrypted_scores` for the context whose key id is `context_id` (its bytes read only
    when its evaluator is not kept already)."""
    key_id, dim, body = wire.unpack(wire.QUERY, query, field="query")
    if key_id != context_id:
        raise InputError.one("query.key_id", f"query was encrypted under key {key_id[:16]}, "
                             f"not the public context's key {context_id[:16]}")
    if active_key_ids is not None and key_id not in set(active_key_ids):
        raise RetiredKeyError(key_id)
    docs = np.asarray(documents, dtype=np.float64)
    if docs.ndim != 2 or len(docs) == 0:
        raise InputError.one("documents", "must be a non-empty 2-D array (rows = documents)")
    if docs.shape[1] != dim:
        raise InputError.one("documents", f"rows have {docs.shape[1]} values; the query has {dim}")
    if not np.all(np.isfinite(docs)):
        raise InputError.one("documents", "must hold finite numbers only")
    evaluator = _CONTEXTS.get(context_id, public_context)
    cipher = ckks.ciphertext_from_bytes(evaluator.context, body)
    packing = ckks.Packing(evaluator.slots, dim, len(docs))
    outputs = evaluator.scores(cipher, docs, cipher.scale, corpus_version)
    blobs = []
    for c, out in enumerate(outputs):
        rows = min(packing.rows_per_chunk, len(docs) - c * packing.rows_per_chunk)
        blobs.append(wire.pack(wire.SCORES, key_id, rows, ckks.to_bytes(out)))
    return blobs


def score_stored_query(store: ContentStore, context_cid: str, query_cid: str, documents: np.ndarray,
                       active_key_ids: Collection[str] | None = None,
                       corpus_version: str | None = None) -> list[str]:
    """The server's role by CID: read the tenant's public context and encrypted query from
    `store`, score them against `documents` (named `corpus_version`, see
    `encrypted_scores`), store the encrypted scores; returns their CIDs.

    The tenant reads them back with `dalrn_core.search.tenant_query.reveal_precedents`.
    """
    context_id = _KEY_OF_CONTEXT.get(context_cid)
    if context_id is None:  # a context not seen yet: read and hashed once
        public = store.get(context_cid)
        context_id = key_id_of(public)
        _KEY_OF_CONTEXT.put(context_cid, context_id)
        blobs = _scores_under(context_id, lambda: public, store.get(query_cid), documents, active_key_ids,
                              corpus_version)
    else:
        blobs = _scores_under(context_id, lambda: store.get(context_cid), store.get(query_cid), documents,
                              active_key_ids, corpus_version)
    return [store.put(blob) for blob in blobs]


# Key ids by context CID. A CID names its bytes (the store checks them against it), so the
# key id (their sha256) never changes: a worker reads and hashes a tenant's context,
# megabytes of rotation keys, once instead of for every dispute it scores.
_KEY_OF_CONTEXT: BoundedMemo[str, str] = BoundedMemo()
