"""Resolve one dispute: intake, route, embed, encrypted search, negotiate, explain, anchor.

Every stage leaves a signed, hash-chained receipt (`Trail.record`). The tenant's secret key
never comes here: the flow scores the tenant's encrypted query, pauses until the tenant
reveals the precedents it chose, and goes on. A dispute whose anchoring cannot finish now
stays `anchor_pending` for the scheduled `anchor_batches` flow.

A joint filing (each party filed its own side) comes with `sides`, each party's sealed side
by CID, never a BATNA or payoff as a parameter; one a party did not join by its deadline
comes with `absent_parties` and ends as `no_agreement`, saying who did not join.
"""

from __future__ import annotations

import asyncio
import hashlib

from prefect import flow
from prefect.runtime import flow_run

from blocks.evidence_store import content_store
from blocks.signing import receipt_signer
from dalrn_core.dispute.stages import Embedding, Intake, PrecedentHits, Resolution
from dalrn_core.observability.runs import ObservedTrail, observed_dispute_run
from dalrn_core.observability.tracing import configure_tracing
from dalrn_core.podp.trail import Trail
from dalrn_core.redact import redact_logs
from flows.paused_runs import pause_for_input
from tasks.anchor import anchor_dispute
from tasks.embed import embed_texts
from tasks.explain import write_memo
from tasks.intake import intake_dispute, intake_lapsed
from tasks.lapse import record_lapse, write_lapse_memo
from tasks.negotiate import negotiate_settlement
from tasks.precedents import (
    PrecedentSearchRequest,
    TenantReveal,
    describe_hits,
    encrypted_precedent_search,
    latest_index_cid,
)
from tasks.receipts import ONCE_PER_INTAKE
from tasks.routing import route_to_mediator

# A dispute run's log lines (Prefect's API log handler among their readers) quote no secret,
# in whichever process the run executes.
redact_logs()
# Prefect's flow and task spans need a tracer provider in the process that runs them.
configure_tracing("dalrn-dispute-runs")


async def off_the_loop(stage, *args):
    """`stage(*args)` in the run's thread pool, awaited: the event loop goes on meanwhile.

    A dispute worker runs many disputes on one event loop. A sync task called from this
    async flow runs on that loop and stalls every other dispute while it runs: an anchor
    waiting on another worker's batch lock held them all for seconds under load, and CKKS
    scoring for about one. The task is the same (retries, its task run in the UI); only
    the thread differs.
    """
    future = stage.submit(*args)
    return await asyncio.to_thread(future.result)


def _run_name() -> str:
    dispute = flow_run.parameters.get("dispute") or {}
    return f"dispute-{dispute.get('id', 'unnamed') if isinstance(dispute, dict) else 'unnamed'}"


def _submitted_at():
    """When the run was created: the gateway creates it as it accepts the dispute."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run.created if context is not None and context.flow_run is not None else None


def _reveal_key(chain_id: str) -> str:
    """The pause's input key: Prefect allows only [a-z0-9-] there, a chain id has more."""
    return "reveal-" + hashlib.sha256(chain_id.encode()).hexdigest()[:24]


async def earlier_reveal(key: str, flow_run_id=None) -> TenantReveal | None:
    """The reveal this run already received under `key`, if any (else None).

    A run started again after a crash pauses again (Prefect forgets a run's pauses when it
    leaves a final state) but keeps the input its tenant gave: the run goes on with it.
    """
    from prefect.input.actions import aread_flow_run_input

    # Prefect keeps a paused run's answer under "paused-<key>-response".
    value = await aread_flow_run_input(f"paused-{key}-response", flow_run_id)
    return None if value is None else TenantReveal.model_validate(value)


async def _precedents(trail: Trail, intake: Intake, embedding: Embedding,
                      request: PrecedentSearchRequest | None, wait_s: int) -> PrecedentHits:
    """Score the tenant's encrypted query, wait for its reveal, describe what it revealed."""
    index_cid, revealed, k = latest_index_cid(), [], None
    if request is not None:
        trail.record("encrypted_search", await off_the_loop(encrypted_precedent_search, request, index_cid))
        key = _reveal_key(intake.chain_id)
        reveal = await earlier_reveal(key) or await pause_for_input(TenantReveal, key=key, timeout_s=wait_s)
        revealed, k = reveal.precedents, request.k
    return trail.record("precedents", describe_hits(revealed, index_cid, intake.readable_ids,
                                                    embedding.vectors, k))


async def _lapsed(trail: Trail, dispute: dict, tenant: str | None, sides: dict[str, str] | None,
            absent_parties: list[str], rule: str, chain_block: str | None) -> dict:
    """A joint dispute whose deadline passed before every party joined: no agreement, anchored."""
    intake = trail.record("intake", intake_lapsed(dispute, tenant, sides, absent_parties))
    negotiation = trail.record("negotiate", record_lapse(intake, rule))
    memo = trail.record("explain", write_lapse_memo(intake, negotiation, list(trail.receipts)))
    anchor = trail.record("anchor", await off_the_loop(anchor_dispute, intake.chain_id, chain_block))
    return Resolution.lapsed(intake=intake, negotiation=negotiation, memo=memo, anchor=anchor,
                             receipts=trail.receipts, stage_seconds=trail.seconds).model_dump(mode="json")


# The result is persisted (JSON, under DALRN_HOME's local storage) so the gateway, in
# another process, reads a finished run's answer through Prefect's API.
@flow(name="dispute-resolution", flow_run_name=_run_name, log_prints=True, persist_result=True,
      result_serializer="json")
@observed_dispute_run(_submitted_at)
async def dispute_resolution(
    dispute: dict,
    precedent_search: PrecedentSearchRequest | None = None,
    rule: str = "nsw",
    tenant_wait_seconds: int = 900,
    chain_block: str | None = None,
    tenant: str | None = None,
    sides: dict[str, str] | None = None,
    absent_parties: list[str] | None = None,
) -> dict:
    """Resolve `dispute`; returns the settlement, memo CID, Merkle root, tx and receipts.

    With `tenant` (the gateway's caller) the receipt chain, record and anchor are the
    tenant's own (`records.chain_key`): two tenants' disputes with one id never meet.
    `dispute` is then the shared structure of a joint filing when `sides` is given.
    """
    trail = ObservedTrail(content_store(), receipt_signer(), once=True)  # a run started again writes no receipt twice
    if absent_parties:
        return await _lapsed(trail, dispute, tenant, sides, absent_parties, rule, chain_block)
    intake = trail.record("intake", intake_dispute(dispute, tenant, sides))
    route = trail.record("route", route_to_mediator.with_options(cache_policy=ONCE_PER_INTAKE)(intake.chain_id))
    embedding = trail.record("embed", await off_the_loop(embed_texts, intake.texts, intake.claims))
    hits = await _precedents(trail, intake, embedding, precedent_search, tenant_wait_seconds)
    negotiation = trail.record("negotiate", negotiate_settlement(intake, rule))
    memo = trail.record("explain", await off_the_loop(write_memo, intake, hits, negotiation, list(trail.receipts),
                                                      route))
    anchor = trail.record("anchor", await off_the_loop(anchor_dispute, intake.chain_id, chain_block))
    return Resolution.of(intake=intake, route=route, hits=hits, negotiation=negotiation, memo=memo,
                         anchor=anchor, receipts=trail.receipts, stage_seconds=trail.seconds
                         ).model_dump(mode="json")
