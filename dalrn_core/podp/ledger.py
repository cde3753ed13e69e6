"""A receipt chain on disk: receipts in the content store, their CIDs in the chain's record.

A chain is a dispute's, a federated night's or a rewiring run's; `chain_id` names it (for
a dispute, its id). Appends hold a per-chain file lock, so concurrent steps never fork a
chain, and every update of a chain's record (its receipts, its anchor) holds the same lock
and is written durably. Resolving the same dispute again continues its chain (the new
intake receipt links to the old head): a dispute's whole history is one verifiable
sequence.

A dispute run appends with `append_receipt_once`, so a run started again after a crash, or
the same dispute resolved again, writes no receipt twice: an intake that commits to what
the chain's latest intake committed to is that intake, and every later step already on the
chain after it is returned instead of signed again.
"""

from __future__ import annotations

import json
from typing import Any

from dalrn_core.dispute.records import merge_record, record_lock, record_path
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.receipts import Receipt, ReceiptChain, receipt_cid
from dalrn_core.podp.signing import ReceiptSigner

# The lock of one chain's record: every read-modify-write of that record holds it.
chain_lock = record_lock


def update_chain_record(chain_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the chain's record and write it durably; the caller holds
    `chain_lock(chain_id)`, so no concurrent update is lost."""
    return merge_record(chain_id, **fields)


def receipt_cids(chain_id: str) -> list[str]:
    path = record_path(chain_id)
    if not path.exists():
        return []
    cids: list[str] = json.loads(path.read_text()).get("receipts", [])
    return cids


def load_receipts(chain_id: str, store: ContentStore) -> list[Receipt]:
    """The chain's receipts in order, each re-hashed against its CID by the store."""
    return [json.loads(store.get(cid)) for cid in receipt_cids(chain_id)]


def append_receipt(
    chain_id: str,
    step: str,
    store: ContentStore,
    signer: ReceiptSigner,
    *,
    inputs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> str:
    """Sign the next receipt of `chain_id`, store it, record it; returns its CID."""
    with chain_lock(chain_id):
        return _append(chain_id, step, store, signer, inputs=inputs, params=params, outputs=outputs)


def _append(chain_id: str, step: str, store: ContentStore, signer: ReceiptSigner, *,
            inputs: dict[str, str] | None, params: dict[str, Any] | None,
            outputs: dict[str, Any] | None) -> str:
    chain = ReceiptChain(chain_id, signer, load_receipts(chain_id, store))
    receipt = chain.add(step, inputs=inputs, params=params, outputs=outputs)
    cid = store.put(canonical_bytes(receipt))
    assert cid == receipt_cid(receipt)
    update_chain_record(chain_id, receipts=[*receipt_cids(chain_id), cid])
    return cid


INTAKE_STEP = "intake"  # the step that begins a dispute run's receipts


def current_run(receipts: list[Receipt]) -> list[Receipt]:
    """The receipts from the chain's latest intake on (all of them if it has none)."""
    starts = [i for i, r in enumerate(receipts) if r.get("step") == INTAKE_STEP]
    return receipts[starts[-1]:] if starts else receipts


def current_intake_cid(chain_id: str, store: ContentStore) -> str | None:
    """The CID of the chain's latest intake receipt, or None if it has none."""
    cids = receipt_cids(chain_id)
    steps = [json.loads(store.get(cid)).get("step") for cid in cids]
    at = max((i for i, step in enumerate(steps) if step == INTAKE_STEP), default=None)
    return None if at is None else cids[at]


def _commits(inputs: Any, params: Any, outputs: Any) -> bytes:
    """What a receipt commits to, in RFC 8785 form (so tuples and lists, key order, compare equal)."""
    return canonical_bytes({"inputs": inputs or {}, "params": params or {}, "outputs": outputs or {}})


def existing_receipt(receipts: list[Receipt], step: str, *, inputs: dict[str, str] | None = None,
                     params: dict[str, Any] | None = None,
                     outputs: dict[str, Any] | None = None) -> Receipt | None:
    """The receipt a dispute run's `step` already has on this chain, or None to append one.

    An intake is the chain's latest intake when it commits to the same inputs, parameters
    and outputs (the same dispute, stored under the same CIDs); an intake of anything else
    begins a new run of the chain. Any other step is the one already written after the
    latest intake with the same inputs and parameters (a dispute run writes each of its
    steps once; its outputs may differ in bits that carry no meaning, a ciphertext's
    randomness, a float's last bits, so they are not compared).
    """
    run = current_run(receipts)
    if step == INTAKE_STEP:
        latest = run[0] if run and run[0].get("step") == INTAKE_STEP else None
        if latest is None:
            return None
        same = _commits(latest.get("inputs"), latest.get("params"), latest.get("outputs")) == \
            _commits(inputs, params, outputs)
        return latest if same else None
    if not run or run[0].get("step") != INTAKE_STEP:
        return None  # no dispute run on this chain yet: nothing to reuse
    wanted = _commits(inputs, params, None)
    return next((r for r in run if r.get("step") == step
                 and _commits(r.get("inputs"), r.get("params"), None) == wanted), None)


def append_receipt_once(
    chain_id: str,
    step: str,
    store: ContentStore,
    signer: ReceiptSigner,
    *,
    inputs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    """`append_receipt` for a dispute run's step, unless the chain has it (`existing_receipt`).

    Returns the receipt's CID and whether it was written now (False: it was already there).
    The check and the append hold the chain's lock together, so two runs racing on one
    dispute still write each step once.
    """
    with chain_lock(chain_id):
        found = existing_receipt(load_receipts(chain_id, store), step, inputs=inputs, params=params,
                                 outputs=outputs)
        if found is not None:
            return receipt_cid(found), False
        return _append(chain_id, step, store, signer, inputs=inputs, params=params, outputs=outputs), True
