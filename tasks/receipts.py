"""Receipts: every stage of a flow leaves one signed, hash-chained receipt.

`ONCE_PER_INTAKE` is the cache policy of a dispute stage whose result must not change when
its run is started again after a crash (the mediator a dispute was routed to): the key is
the receipt chain's latest intake receipt, so a run started again (or the same dispute
resolved again, whose intake is reused) gets the persisted result back, and a new intake
(a changed dispute) computes it afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from prefect import task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE, CachePolicy

from blocks.evidence_store import content_store
from blocks.signing import receipt_signer
from dalrn_core.podp.ledger import append_receipt, current_intake_cid


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


@dataclass
class CurrentIntake(CachePolicy):
    """Key: the latest intake receipt of the chain named by the task's first argument.

    A chain with no intake yet gets a key of its own (a fresh UUID), so nothing is reused
    across two dispute runs by accident.
    """

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        chain = next(iter(inputs.values()), None) if inputs else None
        intake = current_intake_cid(chain, content_store()) if isinstance(chain, str) else None
        return intake or str(uuid4())


ONCE_PER_INTAKE = CurrentIntake() + INPUTS + TASK_SOURCE
