"""The tenant's encrypted precedent search as submitted: its parameters and their checks.

The tenant encrypts with its own CKKS keys (`dalrn tenant prepare`) and uploads only the
public context and the query ciphertext (`POST /v1/content`); a submission names them by
CID, and the run receives them only after every check here has passed.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import parse_cid
from dalrn_core.memo import BoundedMemo
from dalrn_core.search import wire
from dalrn_core.search.ckks_keys import key_id_of
from gateway.deps import Principal
from gateway.errors import ApiError, api_error
from gateway.identity import now
from gateway.routers import content

log = logging.getLogger("dalrn.gateway")


class PrecedentSearchIn(BaseModel):
    """The tenant's encrypted precedent search, made with its own keys (`dalrn tenant prepare`)."""

    model_config = ConfigDict(extra="forbid")
    context_cid: str = Field(min_length=10, max_length=128,
                             description="CID of your CKKS public context (no secret key), from POST /v1/content")
    query_cid: str = Field(min_length=10, max_length=128,
                           description="CID of your encrypted query under that context, from POST /v1/content")
    k: int = Field(default=5, ge=1, le=50, description="how many precedents you will reveal")
    key_id: str | None = Field(default=None, pattern="^[0-9a-f]{64}$",
                               description="sha256 of the public context; checked when given")


# What the checks found of each public context, by its CID. A CID names its bytes, so the
# verdict (the problem, or the key id) never changes, and parsing a context's rotation keys
# costs the gateway about a second of CPU: a tenant names the same context in every dispute
# it files under one key. Holds CIDs, key ids and problems only, nothing of the context.
_VERDICTS: BoundedMemo[str, tuple[str | None, str]] = BoundedMemo()


def _context_verdict(store, cid: str) -> tuple[str | None, str]:
    """(problem or None, key id) of the public context stored under `cid`."""
    verdict = _VERDICTS.get(cid)
    if verdict is None:
        public = store.get(cid)
        verdict = (content.context_problem(public, public=True), key_id_of(public))
        _VERDICTS.put(cid, verdict)
    return verdict


def search_error(code: str, message: str, field: str) -> ApiError:
    return api_error(422, f"precedent_search.{code}", f"precedent_search.{field}: {message}",
                     f"precedent_search.{field}")


def checked_search(db: Session, principal: Principal, search: PrecedentSearchIn) -> dict:
    """The run's `precedent_search` parameter, after every check.

    Both CIDs must be content this tenant uploaded; the context must be a public CKKS
    context, the query must be encrypted under it, and its key must not be retired.
    """
    from dalrn_core.search.rotation import KeyRegistry

    for field in ("context_cid", "query_cid"):
        cid = getattr(search, field)
        try:
            parse_cid(cid, field=f"precedent_search.{field}")
        except InputError:
            raise search_error("invalid_cid", "is not a CIDv1 (raw, sha2-256)", field) from None
        if not content.uploaded_by(db, cid, principal.tenant):
            raise search_error("unknown_content", f"{cid} is not content you uploaded (POST /v1/content)", field)
    store = content._store()
    try:
        problem, key_id = _context_verdict(store, search.context_cid)
        query = store.get(search.query_cid)
    except IntegrityError:  # granted at upload, gone or corrupt since: the server's fault, not the tenant's
        log.error("uploaded content of %s is missing or corrupt in the content store", principal.tenant)
        raise api_error(503, "content.unavailable", "the uploaded content cannot be read from the store now") \
            from None
    if problem is not None:
        raise search_error("invalid_context", problem, "context_cid")
    if search.key_id is not None and search.key_id != key_id:
        raise search_error("key_mismatch", f"is not the public context's key {key_id}", "key_id")
    try:
        query_key, _dim, _body = wire.unpack(wire.QUERY, query, field="precedent_search.query_cid")
    except InputError as exc:
        raise search_error("invalid_query", exc.problems[0].rule, "query_cid") from None
    if query_key != key_id:
        raise search_error("key_mismatch", f"the query is under key {query_key[:16]}, the context is {key_id[:16]}",
                            "query_cid")
    known = KeyRegistry().records.get(key_id)
    if known is not None and (known.tenant != principal.tenant or not known.active(now())):
        raise search_error("key_retired", "this key is retired or expired: encrypt under your current key",
                            "context_cid")
    return {"tenant": principal.tenant, "key_id": key_id, "context_cid": search.context_cid,
            "query_cid": search.query_cid, "k": search.k}


def register_key(tenant: str, key_id: str) -> None:
    """Make the tenant's key the current one the run accepts (this retires its earlier keys)."""
    from dalrn_core.search.rotation import KeyRegistry

    KeyRegistry().register_id(tenant, key_id)
