"""Explain: the settlement memo (JSON and Markdown) and its influence diagram, by CID."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from dalrn_core.dispute.stages import Intake, MediatorRoute, Memo, Negotiation, PrecedentHits
from dalrn_core.explain.diagram import influence_diagram, png_bytes, to_mermaid
from dalrn_core.explain.memo import build_memo, render_markdown
from dalrn_core.explain.party_view import render_party_markdown, seal_memo
from dalrn_core.podp.canonical import canonical_bytes


@task(name="explain", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def write_memo(intake: Intake, hits: PrecedentHits, negotiation: Negotiation, receipts: list[str],
               mediator: MediatorRoute | None = None) -> Memo:
    """Store the memo and diagram by CID and show the memo in the UI; returns the CIDs."""
    dispute, store = intake.dispute, content_store()
    graph = influence_diagram(dispute.party_ids, intake.evidence_ids, hits.ids)
    png_cid = store.put(png_bytes(graph))  # drawn once per distinct diagram in this worker
    hits_json = hits.model_dump(mode="json")
    memo = build_memo(
        dispute,
        dispute_cid=intake.dispute_cid,
        evidence_cids=intake.evidence_cids,
        precedents=hits_json["precedents"],
        evidence_relevance=hits_json["relevance"],
        negotiation=negotiation.result,
        diagram={"png_cid": png_cid, "mermaid": to_mermaid(graph)},
        receipts=receipts,
        mediator=mediator.model_dump(mode="json") if mediator is not None else None,
    )
    if intake.commitments is not None:  # a joint filing: each party's values only as its commitment
        memo = seal_memo(memo, dispute, negotiation.result, intake.commitments)
    markdown = render_party_markdown(memo) if intake.commitments is not None else render_markdown(memo)
    memo_cid = store.put(canonical_bytes(memo))
    markdown_cid = store.put(markdown.encode())
    create_markdown_artifact(key="settlement-memo", markdown=markdown,
                             description=f"Settlement memo of {dispute.id} (CID {memo_cid})")
    return Memo(memo_cid=memo_cid, memo_markdown_cid=markdown_cid, diagram_cid=png_cid,
                settlement=memo["settlement"])
