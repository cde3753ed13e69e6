"""Resolve one dispute: intake, embed, encrypted search, negotiate, explain, anchor.

Every stage leaves a signed, hash-chained receipt. The tenant's secret key never comes
here: the flow scores the tenant's encrypted query, pauses until the tenant reveals the
precedents it chose, and goes on.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run

from dalrn_core.podp.canonical import digest_of
from tasks.anchor import anchor_dispute
from tasks.embed import embed_texts
from tasks.explain import write_memo
from tasks.intake import intake_dispute
from tasks.negotiate import negotiate_settlement
from tasks.precedents import (
    PrecedentSearchRequest,
    TenantReveal,
    current_index_cid,
    describe_hits,
    encrypted_precedent_search,
)
from tasks.receipts import record_receipt
from tasks.routing import route_to_mediator


def _run_name() -> str:
    dispute = flow_run.parameters.get("dispute") or {}
    return f"dispute-{dispute.get('id', 'unnamed') if isinstance(dispute, dict) else 'unnamed'}"


class _Clock:
    """Seconds each stage took, for the CLI's summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._start, 3)
        self._start = now


@flow(name="dispute-resolution", flow_run_name=_run_name, log_prints=True)
async def dispute_resolution(
    dispute: dict,
    precedent_search: PrecedentSearchRequest | None = None,
    rule: str = "nsw",
    tenant_wait_seconds: int = 900,
    chain_block: str | None = None,
) -> dict:
    """Resolve `dispute`; returns the settlement, memo CID, Merkle root, tx and receipts."""
    clock = _Clock()
    intake = intake_dispute(dispute)
    dispute_id = intake["dispute_id"]
    stored = {"dispute_cid": intake["dispute_cid"], "evidence_cids": intake["evidence_cids"]}
    receipts = [record_receipt(dispute_id, "intake", inputs={"dispute": digest_of(dispute)}, outputs=stored)]
    clock.lap("intake")

    mediator = route_to_mediator(dispute_id)
    receipts.append(record_receipt(dispute_id, "route", params={"network": mediator["network"]},
                                   outputs=mediator))
    clock.lap("route")

    vectors = embed_texts(intake["texts"])
    receipts.append(record_receipt(dispute_id, "embed", inputs={"evidence": digest_of(intake["texts"])},
                                   params={"model": "all-MiniLM-L6-v2"},
                                   outputs={"embeddings": digest_of(vectors)}))
    clock.lap("embed")

    revealed, index_cid = [], current_index_cid()
    if precedent_search is not None:
        scored = encrypted_precedent_search(precedent_search, index_cid)
        receipts.append(record_receipt(
            dispute_id, "encrypted_search",
            inputs={"context": precedent_search.context_cid, "query": precedent_search.query_cid},
            params={"index": index_cid, "key_id": precedent_search.key_id}, outputs=scored))
        clock.lap("encrypted_search")
        reveal = await pause_flow_run(wait_for_input=TenantReveal, timeout=tenant_wait_seconds, poll_interval=1,
                                      key=f"reveal-{dispute_id}")
        revealed = reveal.precedents[: precedent_search.k]
        clock.lap("tenant_reveal")
    hits = describe_hits(revealed, index_cid, intake["evidence_ids"], vectors)
    receipts.append(record_receipt(dispute_id, "precedents", params={"index": index_cid},
                                   outputs={"revealed": [h["cid"] for h in hits["precedents"]]}))

    negotiation = negotiate_settlement(dispute, rule)
    receipts.append(record_receipt(dispute_id, "negotiate", inputs={"dispute": intake["dispute_cid"]},
                                   params={"rule": rule}, outputs={"result": digest_of(negotiation)}))
    clock.lap("negotiate")

    memo = write_memo(dispute, intake, hits, negotiation, receipts, mediator)
    receipts.append(record_receipt(dispute_id, "explain", outputs=memo))
    clock.lap("explain")

    try:
        anchor = anchor_dispute(dispute_id, chain_block)
    except Exception as exc:  # noqa: BLE001 - retries spent: the next scheduled batch takes it
        anchor = {"status": "anchor_pending", "root": None, "tx_hash": None, "error": str(exc)[:500]}
    receipts.append(record_receipt(dispute_id, "anchor", outputs=anchor))
    clock.lap("anchor")
    return {
        "dispute_id": dispute_id,
        "settlement": memo["settlement"],
        "negotiation": negotiation,
        "memo_cid": memo["memo_cid"],
        "memo_markdown_cid": memo["memo_markdown_cid"],
        "merkle_root": anchor["root"],
        "tx_hash": anchor["tx_hash"],
        "mediator": mediator["agent"],
        "receipts": receipts,
        "stage_seconds": clock.seconds,
    }
