"""The tenant's commands: prepare an encrypted precedent search, answer a paused run.

`dalrn tenant prepare FILE` prints the parameters of a dispute-resolution run (the dispute
and its `precedent_search`, public bytes by CID) for the Prefect UI or the REST API.
`dalrn tenant respond RUN_ID` finds the encrypted scores of that paused run in its
receipts, decrypts them with the tenant's own key and resumes the run with the chosen
precedents. The secret key never leaves this process.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.dispute.records import chain_key
from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore, LocalContentStore
from dalrn_core.podp.ledger import load_receipts
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.tenant_query import prepare_search, reveal_precedents


def prepare(path: str, *, k: int = 5) -> dict:
    """Run parameters for `path`'s dispute with the tenant's encrypted query attached."""
    dispute = load_dispute_file(path)
    request = prepare_search(dispute.tenant, [d.text for d in dispute.evidence], LocalContentStore(), k=k)
    return {"dispute": dispute.model_dump(mode="json"), "precedent_search": request}


def latest_search(dispute_id: str, store: ContentStore) -> tuple[list[str], str]:
    """Score CIDs and index CID of the dispute's latest encrypted search, from its receipts."""
    for receipt in reversed(load_receipts(dispute_id, store)):
        if receipt["step"] == "encrypted_search":
            return receipt["outputs"]["score_cids"], receipt["params"]["index"]
    raise InputError.one("run", f"dispute {dispute_id} has no encrypted search to answer")


async def reveal_to_run(run_id: UUID, dispute_id: str, tenant: str, k: int, say=print) -> list[dict]:
    """Decrypt the run's scores locally and resume it with the top `k` precedents."""
    from prefect.flow_runs import resume_flow_run

    store = LocalContentStore()
    score_cids, index_cid = latest_search(dispute_id, store)
    index = PrecedentIndex.load(index_cid)
    chosen = reveal_precedents(tenant, score_cids, index.ids, store, k)
    say(f"tenant: decrypted {len(index)} scores locally, revealing top {len(chosen)}")
    await resume_flow_run(run_id, run_input={"precedents": chosen})
    return chosen


async def respond(run_id: str, say=print) -> list[dict]:
    """Answer the paused dispute-resolution run `run_id` as its tenant."""
    from prefect.client.orchestration import get_client

    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        raise InputError.one("run_id", "must be a flow run id (a UUID)") from None
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
    if run.state is None or not run.state.is_paused():
        raise InputError.one("run_id", f"run {run_id} is not paused waiting for its tenant")
    search = run.parameters.get("precedent_search") or {}
    dispute = run.parameters.get("dispute") or {}
    if not search:
        raise InputError.one("run_id", f"run {run_id} has no precedent_search parameter")
    chain = chain_key(run.parameters.get("tenant"), dispute["id"])
    return await reveal_to_run(flow_run_id, chain, search["tenant"], int(search.get("k", 5)), say)


def respond_now(run_id: str, say=print) -> list[dict]:
    return asyncio.run(respond(run_id, say))
