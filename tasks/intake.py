"""Intake: validate the dispute (parsed here, once), then store it and its evidence by CID."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.dispute.records import chain_key
from dalrn_core.dispute.stages import Intake
from dalrn_core.podp.canonical import canonical_bytes, digest_of


@task(name="intake", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def intake_dispute(dispute: dict, tenant: str | None = None) -> Intake:
    """Validate (nothing is stored if this raises), then store the dispute and evidence."""
    parsed = parse_dispute(dispute)
    chain_key(tenant, parsed.id)  # a bad tenant name fails here, before anything is stored
    store = content_store()
    evidence_cids = {doc.id: store.put(doc.text.encode()) for doc in parsed.evidence}
    dispute_cid = store.put(canonical_bytes(parsed.model_dump(mode="json")))
    return Intake(dispute=parsed, submitted_digest=digest_of(dispute), dispute_cid=dispute_cid,
                  evidence_cids=evidence_cids, tenant=tenant)
