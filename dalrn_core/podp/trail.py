"""A receipt trail: each step of a flow leaves one signed, hash-chained receipt, timed.

`Trail.step` signs the next receipt of the chain (`ledger.append_receipt`) and records how
long the stage took since the previous step (or since the trail began), so a flow names
its stages once instead of building receipt dicts and reading a clock around each.
`Trail.record` does the same for a stage model that describes its own receipt
(`receipt_fields()`), and hands the model back so one line runs, signs and keeps a stage.

A dispute's trail is opened with ``once=True``: each step goes through
`ledger.append_receipt_once`, so a run started again after a crash (or the same dispute
resolved again) gets back the receipts its steps already wrote instead of second ones;
`reused` names those steps. Only a run's first steps can be reused: once one is written
anew (it had not been reached, or it commits to other inputs), every later step is too,
so a run that went another way never picks up a receipt of the one before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.ledger import append_receipt, append_receipt_once
from dalrn_core.podp.signing import ReceiptSigner


class ReceiptSource(Protocol):
    """A stage result that says what its receipt commits to."""

    def receipt_fields(self) -> dict[str, dict[str, Any]]:
        """``{"inputs": ..., "params": ..., "outputs": ...}`` (any of them may be absent)."""
        ...


S = TypeVar("S", bound=ReceiptSource)


class Trail:
    """The receipts and stage seconds of one receipt chain (a dispute, an FL night, ...).

    The chain id may be given later (`open`): a dispute's id is known only once intake
    has validated it, but the intake stage is timed from the trail's start.
    """

    def __init__(self, store: ContentStore, signer: ReceiptSigner, chain_id: str | None = None,
                 *, clock: Callable[[], float] = time.perf_counter, once: bool = False) -> None:
        self.store = store
        self.once = once
        self.reused: list[str] = []  # steps whose receipt the chain already had (``once`` only)
        self._diverged = False  # a step was written anew: no later one is reused
        self.signer = signer
        self.chain_id = chain_id
        self.receipts: list[str] = []
        self.seconds: dict[str, float] = {}
        self._clock = clock
        self._mark = clock()

    def open(self, chain_id: str) -> Trail:
        """Name the receipt chain the next steps append to (once)."""
        if not isinstance(chain_id, str) or not chain_id:
            raise ValueError("chain_id must be a non-empty string")
        if self.chain_id is not None and self.chain_id != chain_id:
            raise ValueError(f"trail already records chain {self.chain_id!r}, not {chain_id!r}")
        self.chain_id = chain_id
        return self

    def step(self, name: str, *, inputs: dict[str, str] | None = None,
             params: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None) -> str:
        """Sign and store the chain's next receipt for stage `name`; returns its CID."""
        if self.chain_id is None:
            raise ValueError(f"step {name!r}: the trail has no chain id yet (call open first)")
        if name in self.seconds:
            raise ValueError(f"step {name!r} is already on this trail")
        if self.once and not self._diverged:
            cid, written = append_receipt_once(self.chain_id, name, self.store, self.signer,
                                               inputs=inputs, params=params, outputs=outputs)
            if written:
                self._diverged = True
            else:
                self.reused.append(name)
        else:
            cid = append_receipt(self.chain_id, name, self.store, self.signer,
                                 inputs=inputs, params=params, outputs=outputs)
        now = self._clock()
        self.seconds[name] = round(now - self._mark, 3)
        self._mark = now
        self.receipts.append(cid)
        return cid

    def record(self, name: str, stage: S) -> S:
        """`step(name, **stage.receipt_fields())`, then return `stage` itself.

        On a trail without a chain id the first stage names it (its ``chain_id``, as the
        dispute flow's intake does), so the intake is timed and signed like any stage.
        """
        if self.chain_id is None:
            chain_id = getattr(stage, "chain_id", None)
            if chain_id is None:
                raise ValueError(f"step {name!r}: the trail has no chain id and the stage names none")
            self.open(chain_id)
        self.step(name, **stage.receipt_fields())
        return stage
