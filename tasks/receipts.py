"""Receipts: every stage of a flow leaves one signed, hash-chained receipt."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.evidence_store import content_store
from blocks.signing import receipt_signer
from dalrn_core.podp.ledger import append_receipt


@task(name="receipt", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 2])
def record_receipt(
    chain_id: str,
    step: str,
    inputs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> str:
    """Sign and store the next receipt of receipt chain `chain_id`; returns its CID."""
    return append_receipt(chain_id, step, content_store(), receipt_signer(),
                          inputs=inputs, params=params, outputs=outputs)
