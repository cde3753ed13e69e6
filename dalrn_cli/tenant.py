"""The tenant's commands: an encrypted precedent search, through the gateway only.

`dalrn tenant prepare FILE --api URL` encrypts the dispute's precedent query with the
tenant's own CKKS key (a file in the tenant's own folder), uploads only the public context
and the ciphertext (`POST /v1/content`) and submits the dispute with its
`precedent_search`. FILE may be a whole one-sided dispute or a joint filing's opening (as
`dalrn split` writes it: the query is then built from the opener's own side's evidence, the
side salted and kept as `dalrn submit` does); a joint run pauses for the reveal once every
party has joined. `dalrn tenant respond DISPUTE_ID --api URL` reads the paused run's
encrypted scores (`GET /v1/disputes/{id}/search`), decrypts and ranks them here and
answers with the chosen precedents (`POST /v1/disputes/{id}/reveal`). Both authenticate
with `DALRN_API_KEY` and read nothing of the server's data folder; the secret key never
leaves this process.

`reveal_to_run` serves the embedded demo (`dalrn demo`, `dalrn resolve`), where the flow
runs in this very process over the local data folder: there the CLI is server and tenant.
"""

from __future__ import annotations

import sys
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from dalrn_cli.api_client import GatewayClient, GatewayContent, GatewayError, api_key_from_env
from dalrn_cli.json_input import read_json_object
from dalrn_cli.progress import ProgressBar
from dalrn_cli.submit import api_url, default_idempotency_key
from dalrn_cli.tenant_sdk import precheck, seal_through_gateway
from dalrn_core.dispute.model import Identifier
from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.ledger import load_receipts
from dalrn_core.search.ckks_keys import TenantKeys
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.tenant_query import (
    query_vector,
    reveal_precedents,
    tenant_key_path,
    tenant_keys,
)

_DISPUTE_ID: TypeAdapter[str] = TypeAdapter(Identifier)


def _bars(label: str) -> ProgressBar:
    return ProgressBar(label, stream=sys.stderr)


def prepare(path: str, *, api: str | None, k: int = 5, idempotency_key: str | None = None,
            say=print) -> dict:
    """Encrypt `path`'s precedent query, upload the public bytes, submit the dispute with its search.

    Returns the gateway's 202 answer with the `precedent_search` it was sent.
    """
    if not 1 <= k <= 50:
        raise InputError.one("k", "must be between 1 and 50")
    body = read_json_object(path, "a dispute")
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        tenant = client.tenant
        if body.get("tenant", tenant) != tenant:
            raise InputError.one("tenant", f"the file names tenant {body['tenant']!r}, your API key is tenant "
                                           f"{tenant!r}: leave tenant out or make it yours")
        dispute = precheck({**body, "tenant": tenant})  # its rules checked before any work
        # Confidential items are sealed and uploaded as ciphertexts; their texts stay here for the query.
        sealed = seal_through_gateway(body, client, GatewayContent(client, progress=_bars))
        filed = sealed.body
        if "side" in filed:  # a joint opening: the query is built from the opener's own side's evidence
            from dalrn_cli.sides import salted_opening

            filed = salted_opening(filed)
        say(f"tenant {tenant}: embedding {len(sealed.texts)} evidence texts ({len(sealed.sealed)} confidential, sent "
            "only encrypted) and encrypting the precedent query with its own CKKS key")
        keys = tenant_keys(tenant)
        query = keys.encrypt_query(query_vector(sealed.texts))
        store = GatewayContent(client, progress=_bars)
        search = {"context_cid": store.put(keys.public_context(), "public context "),
                  "query_cid": store.put(query, "encrypted query"), "k": k, "key_id": keys.key_id}
        # Each prepare encrypts anew (CKKS is randomised), so the key names the dispute, not the body.
        key = idempotency_key or "search-" + default_idempotency_key(body)
        try:
            answer = client.request("POST", "/v1/disputes", json={**filed, "precedent_search": search},
                                    headers={"Idempotency-Key": key}, ok=(202,)).json()
        except GatewayError as exc:
            if exc.code in ("idempotency.conflict", "dispute.exists"):
                raise InputError.one("file", f"dispute {dispute.id} was already submitted (each prepare encrypts "
                                             f"anew); follow it with `dalrn status {dispute.id}`") from None
            raise
    waits = " (after every party has joined)" if answer["status"] == "awaiting_parties" else ""
    say(f"dispute {answer['dispute_id']}: {answer['status']}; answer its search with "
        f"`dalrn tenant respond {answer['dispute_id']}` once it is awaiting_tenant{waits}")
    return {**answer, "precedent_search": search}


def _own_keys(tenant: str, key_id: str) -> None:
    """Refuse before decrypting when this side does not hold the key the scores are under."""
    path = tenant_key_path(tenant)
    if not path.exists():
        raise InputError.one("keys", f"no CKKS key of tenant {tenant} at {path}: respond from the machine and "
                                     "tenant folder that prepared the dispute")
    keys = TenantKeys.load(path)
    if keys.key_id != key_id:
        raise InputError.one("keys", f"the scores are under key {key_id[:16]}, {path} holds key "
                                     f"{keys.key_id[:16]} (rotated since the dispute was prepared?)")
    if not keys.is_active():
        raise InputError.one("keys", f"key {key_id[:16]} has expired: prepare the dispute again")


def respond(dispute_id: str, *, api: str | None, say=print) -> list[dict]:
    """Answer the paused search of dispute `dispute_id`: decrypt its scores here, reveal the top k."""
    try:
        _DISPUTE_ID.validate_python(dispute_id)
    except ValidationError:
        raise InputError.one("dispute_id", "must be a dispute id (letters, digits, '.', '_', '-'; at most 64)") from None
    with GatewayClient(api_url(api), api_key_from_env()) as client:
        tenant = client.tenant
        search = client.get_json(f"/v1/disputes/{dispute_id}/search")
        _own_keys(tenant, search["key_id"])
        say(f"tenant {tenant}: decrypting {search['documents']} encrypted scores locally")
        chosen = reveal_precedents(tenant, search["score_cids"], search["precedent_ids"],
                                   GatewayContent(client, progress=_bars), search["k"])
        client.request("POST", f"/v1/disputes/{dispute_id}/reveal", json={"precedents": chosen}, ok=(202,))
    say(f"dispute {dispute_id}: revealed the top {len(chosen)} precedents; the run goes on")
    return chosen


def latest_search(dispute_id: str, store: ContentStore) -> tuple[list[str], str]:
    """Score CIDs and index CID of the dispute's latest encrypted search, from its receipts."""
    for receipt in reversed(load_receipts(dispute_id, store)):
        if receipt["step"] == "encrypted_search":
            return receipt["outputs"]["score_cids"], receipt["params"]["index"]
    raise InputError.one("run", f"dispute {dispute_id} has no encrypted search to answer")


async def reveal_to_run(run_id: UUID, dispute_id: str, tenant: str, k: int, say=print) -> list[dict]:
    """Decrypt the run's scores locally and resume it with the top `k` precedents."""
    from prefect.flow_runs import resume_flow_run

    from blocks.evidence_store import content_store  # imports Prefect: on use only

    store = content_store()
    score_cids, index_cid = latest_search(dispute_id, store)
    index = PrecedentIndex.load(index_cid)
    chosen = reveal_precedents(tenant, score_cids, index.ids, store, k)
    say(f"tenant: decrypted {len(index)} scores locally, revealing top {len(chosen)}")
    await resume_flow_run(run_id, run_input={"precedents": chosen})
    return chosen
