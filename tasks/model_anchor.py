"""Anchor a federated round's receipts on chain with the global model's hash and round."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.chain import anchor_client
from blocks.evidence_store import content_store
from dalrn_core.podp.model_anchor import anchor_model_round


@task(name="anchor-model", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def anchor_model(chain_id: str, model_hash: str, fl_round: int) -> dict:
    """Anchor `chain_id`'s receipt head with the model hash and round; returns the anchor."""
    return anchor_model_round(anchor_client(), content_store(), chain_id, model_hash, fl_round)
