"""Intake: validate the dispute (parsed here, once), then store it and its evidence by CID.

A joint filing comes with each party's side sealed in the content store (`sides`: party ->
CID); intake opens and checks them (`dalrn_core.dispute.joint`). Its result is not persisted:
it holds the assembled dispute, whose BATNAs and payoffs stay out of Prefect's storage.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from dalrn_core.dispute.joint import open_joint, open_lapsed
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.dispute.records import chain_key
from dalrn_core.dispute.stages import Intake, LapsedIntake
from dalrn_core.evidence.confidential import evidence_cids
from dalrn_core.podp.canonical import canonical_bytes, digest_of


@task(name="intake", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=[1, 4])
def intake_dispute(dispute: dict, tenant: str | None = None, sides: dict[str, str] | None = None) -> Intake:
    """Validate (nothing is stored if this raises), then store the dispute and evidence."""
    store = content_store()
    if sides is not None:
        return open_joint(dispute, tenant, sides, store)
    parsed = parse_dispute(dispute)
    chain_key(tenant, parsed.id)  # a bad tenant name fails here, before anything is stored
    cids = evidence_cids(parsed, parsed.evidence, store)  # a confidential item: its envelope, checked
    dispute_cid = store.put(canonical_bytes(parsed.model_dump(mode="json")))
    return Intake(dispute=parsed, submitted_digest=digest_of(dispute), dispute_cid=dispute_cid,
                  evidence_cids=cids, tenant=tenant)


@task(name="intake-lapsed", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=[1, 4])
def intake_lapsed(dispute: dict, tenant: str | None, sides: dict[str, str] | None,
                  absent_parties: list[str]) -> LapsedIntake:
    """The shared structure and the sides filed before the deadline, by commitment."""
    return open_lapsed(dispute, tenant, sides or {}, absent_parties, content_store())
