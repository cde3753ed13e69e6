"""Explain: the settlement memo (JSON and Markdown) and its influence diagram, by CID."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.explain.diagram import influence_diagram, render_png, to_mermaid
from dalrn_core.explain.memo import build_memo, render_markdown
from dalrn_core.podp.canonical import canonical_bytes


@task(name="explain", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def write_memo(dispute: dict, intake: dict, hits: dict, negotiation: dict, receipts: list[str],
               mediator: dict | None = None) -> dict:
    """Store the memo and diagram by CID and show the memo in the UI; returns the CIDs."""
    parsed = parse_dispute(dispute)
    store = content_store()
    graph = influence_diagram(
        parsed.party_ids, [d.id for d in parsed.evidence], [p["precedent_id"] for p in hits["precedents"]]
    )
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "diagram.png"
        render_png(graph, png)
        png_cid = store.put(png.read_bytes())
    memo = build_memo(
        parsed,
        dispute_cid=intake["dispute_cid"],
        evidence_cids=intake["evidence_cids"],
        precedents=hits["precedents"],
        evidence_relevance=hits["relevance"],
        negotiation=negotiation,
        diagram={"png_cid": png_cid, "mermaid": to_mermaid(graph)},
        receipts=receipts,
        mediator=mediator,
    )
    markdown = render_markdown(memo)
    memo_cid = store.put(canonical_bytes(memo))
    markdown_cid = store.put(markdown.encode())
    create_markdown_artifact(key="settlement-memo", markdown=markdown,
                             description=f"Settlement memo of {parsed.id} (CID {memo_cid})")
    return {"memo_cid": memo_cid, "memo_markdown_cid": markdown_cid, "diagram_cid": png_cid,
            "settlement": memo["settlement"]}
