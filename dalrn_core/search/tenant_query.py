"""The tenant's side of precedent search: its keys, its encrypted query, its decryption.

This runs where the tenant is (the `dalrn` CLI or SDK), never in the flow: the secret CKKS
key stays in the tenant's own folder (`DALRN_TENANT_HOME`, `dalrn_core.tenant_home`), apart
from the server's `DALRN_HOME`. The query is embedded here, into the tenant's own embedding
cache, so the embeddings of its confidential evidence never reach a server folder. The
server gets the public context and the encrypted query (by CID) and returns encrypted
scores; only the tenant can turn them into a ranking, and the flow learns the chosen
precedents only when the tenant reveals them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore
from dalrn_core.search.ckks_keys import TenantKeys
from dalrn_core.search.embed import MODEL_TAG, Embedder, EmbeddingCache
from dalrn_core.search.rotation import KeyRegistry
from dalrn_core.tenant_home import ckks_key_path, embeddings_dir


def tenant_key_path(tenant: str) -> Path:
    """The tenant's CKKS key file, in the tenant's folder (never the server's)."""
    return ckks_key_path(tenant)


def tenant_embedder() -> Embedder:
    """MiniLM, the server's model and tag, caching into the tenant's own folder."""
    return Embedder.with_cache(EmbeddingCache(embeddings_dir(MODEL_TAG), model=MODEL_TAG))


def tenant_keys(tenant: str, *, now: datetime | None = None) -> TenantKeys:
    """The tenant's current CKKS keys, generating (rotating) when none or expired."""
    path = tenant_key_path(tenant)
    if path.exists():
        keys = TenantKeys.load(path)
        if keys.is_active(now or datetime.now(UTC)):
            return keys
    keys = TenantKeys.generate()
    keys.save(path)
    return keys


def query_vector(texts: list[str]) -> npt.NDArray[np.float32]:
    """One query for a dispute: the normalised mean of its evidence embeddings."""
    vectors = tenant_embedder().encode(texts)
    mean = vectors.mean(axis=0)
    query: npt.NDArray[np.float32] = (mean / np.linalg.norm(mean)).astype(np.float32)
    return query


def prepare_search(tenant: str, texts: list[str], store: ContentStore, *, k: int = 5,
                   registry: KeyRegistry | None = None) -> dict[str, Any]:
    """Encrypt the dispute's query and hand the server only public bytes, by CID.

    Registering the public context tells the server which key is current, which retires
    the tenant's earlier keys (rotation).
    """
    if not 1 <= k <= 50:
        raise InputError.one("k", "must be between 1 and 50")
    keys = tenant_keys(tenant)
    public = keys.public_context()
    (registry or KeyRegistry()).register(tenant, public)
    return {
        "tenant": tenant,
        "key_id": keys.key_id,
        "context_cid": store.put(public),
        "query_cid": store.put(keys.encrypt_query(query_vector(texts))),
        "k": k,
    }


def reveal_precedents(tenant: str, score_cids: list[str], precedent_ids: list[str],
                      store: ContentStore, k: int, *, keys: TenantKeys | None = None) -> list[dict[str, Any]]:
    """Decrypt the server's scores and choose the top `k` precedents to reveal.

    `keys`: the keys the query was encrypted under, when the caller still holds them (a
    process playing many disputes); they decrypt even after the tenant's key file rotated,
    and loading the key file again costs a tenant about 75 ms a dispute. Without them the
    tenant's current key file is read.
    """
    keys = keys or tenant_keys(tenant)
    scores = keys.decrypt_scores([store.get(cid) for cid in score_cids])
    if len(scores) != len(precedent_ids):
        raise InputError.one("score_cids", f"hold {len(scores)} scores for {len(precedent_ids)} precedents")
    top = np.argsort(-scores, kind="stable")[:k]
    return [{"precedent_id": precedent_ids[i], "score": float(scores[i])} for i in top]
