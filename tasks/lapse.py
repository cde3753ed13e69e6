"""A joint dispute some party did not join by its deadline: no agreement, said and signed.

Nothing is negotiated: the negotiate receipt records `no_agreement` with the reason (which
party did not join by when), and the memo says so. The flow then anchors as usual.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from dalrn_core.dispute.joint import lapse_negotiation
from dalrn_core.dispute.stages import LapsedIntake, Memo, Negotiation
from dalrn_core.explain.party_view import lapsed_memo, render_party_markdown
from dalrn_core.podp.canonical import canonical_bytes


@task(name="negotiate-lapsed", cache_policy=NO_CACHE)
def record_lapse(intake: LapsedIntake, rule: str = "nsw") -> Negotiation:
    """`no_agreement`: a party did not join by the deadline."""
    return lapse_negotiation(intake, rule)


@task(name="explain-lapsed", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def write_lapse_memo(intake: LapsedIntake, negotiation: Negotiation, receipts: list[str]) -> Memo:
    """Store the memo of the lapsed dispute by CID and show it in the UI."""
    store = content_store()
    memo = lapsed_memo(intake, negotiation.result, diagram={}, receipts=receipts)
    markdown = render_party_markdown(memo)
    memo_cid = store.put(canonical_bytes(memo))
    markdown_cid = store.put(markdown.encode())
    create_markdown_artifact(key="settlement-memo", markdown=markdown,
                             description=f"Memo of {intake.shared.id}, lapsed (CID {memo_cid})")
    return Memo(memo_cid=memo_cid, memo_markdown_cid=markdown_cid, diagram_cid=None,
                settlement=memo["settlement"])
