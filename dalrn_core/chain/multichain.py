"""Several chains: anchor on a primary with fallbacks, and check one root on two chains.

Selection policy "primary with fallback": try the chains in the configured order; a chain
that fails transiently (unreachable after its retries, fees above its caps) before anything
was broadcast on it hands over to the next. A root already anchored on a chain counts as
anchored there, so a retry never pays twice; a chain that cannot be reached is "unknown",
never "not anchored", where it may hold the root. Cross-chain verification asks each
chain's own contract.
"""

from __future__ import annotations

import logging
from typing import Any

from dalrn_core.chain.anchor import ZERO32, AnchorClient, AnchorResult
from dalrn_core.chain.errors import TRANSIENT_CHAIN_ERRORS, AnchorStateUnknown
from dalrn_core.errors import IntegrityError
from dalrn_core.redact import redacted_error

log = logging.getLogger(__name__)


def _chain_name(client: AnchorClient) -> str:
    config = getattr(client, "config", None)
    return config.name if config is not None else f"chain at {client.address}"


class FallbackAnchorClient:
    """Anchors on the first chain of `clients` that succeeds; the same methods as AnchorClient
    that batch anchoring uses (`anchor_root`, `is_anchored`, `already_anchored`, `locate`,
    `verify_receipt`, `broadcast_pending`, `settle`).

    Only a transient failure (see `dalrn_core.chain.errors`) hands over to the next chain, and
    only when nothing was broadcast on the failing one: an anchoring that went out there may
    still be mined, and anchoring the root elsewhere too would anchor it twice. A chain that
    cannot be reached never counts as "not anchored" where it may hold the root.
    """

    def __init__(self, clients: list[AnchorClient]) -> None:
        if not clients:
            raise ValueError("at least one chain is needed")
        self.clients = list(clients)
        self.failures: list[str] = []

    @property
    def primary(self) -> AnchorClient:
        return self.clients[0]

    def __getattr__(self, name: str) -> Any:  # w3, address, account... of the primary
        return getattr(self.__dict__["clients"][0], name)

    def anchor_root(self, root: bytes, leaf_count: int, manifest_uri: str, model_hash: bytes = ZERO32,
                    fl_round: int = 0) -> AnchorResult:
        self.failures = []
        for client in self.clients:
            try:
                return client.anchor_root(root, leaf_count, manifest_uri, model_hash, fl_round)
            except TRANSIENT_CHAIN_ERRORS as exc:
                failure = f"{_chain_name(client)}: {redacted_error(exc)}"
                self.failures.append(failure)
                if client.broadcast_pending(root):
                    raise AnchorStateUnknown(f"an anchoring of root 0x{root.hex()} was broadcast on "
                                             f"{_chain_name(client)} and may still be mined there, so no other "
                                             f"chain anchors it ({failure})") from None
                log.warning("anchoring on %s failed, trying the next chain: %s", _chain_name(client),
                            redacted_error(exc))
        raise ConnectionError("every chain failed: " + "; ".join(self.failures))

    def _holding(self, root: bytes, *, strict: bool) -> AnchorClient | None:
        """The first chain that holds `root`, or None. An unreachable chain raises
        AnchorStateUnknown when it may hold the root: always if `strict`, else only when an
        anchoring of the root was broadcast there (a batch root only we anchor)."""
        unreachable = []
        for client in self.clients:
            try:
                if client.is_anchored(root):
                    return client
            except TRANSIENT_CHAIN_ERRORS as exc:
                if client.broadcast_pending(root):
                    unreachable.append(f"{_chain_name(client)}, where an anchoring of it was broadcast: "
                                       f"{redacted_error(exc)}")
                elif strict:
                    unreachable.append(f"{_chain_name(client)}: {redacted_error(exc)}")
        if unreachable:
            raise AnchorStateUnknown(f"cannot tell whether root 0x{root.hex()} is anchored: "
                                     + "; ".join(unreachable))
        return None

    def is_anchored(self, root: bytes) -> bool:
        """True if a chain holds `root`, False if every chain answered that none does."""
        return self._holding(root, strict=True) is not None

    def already_anchored(self, root: bytes) -> bool:
        """Whether a root that only this data folder anchors is on some chain already: a
        chain that cannot be reached counts only if an anchoring of it went out there."""
        return self._holding(root, strict=False) is not None

    def locate(self, root: bytes) -> AnchorResult | None:
        holder = self._holding(root, strict=False)
        return holder.locate(root) if holder is not None else None

    def broadcast_pending(self, root: bytes) -> bool:
        return any(client.broadcast_pending(root) for client in self.clients)

    def settle(self, root: bytes) -> None:
        for client in self.clients:
            client.settle(root)

    def sync(self) -> None:
        for client in self.clients:
            client.sync()

    def verify_receipt(self, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
        holder = self._holding(root, strict=True)
        return holder.verify_receipt(leaf, proof, root) if holder is not None else False


def verify_cross_chain(clients: list[AnchorClient], root: bytes, leaf: bytes | None = None,
                       proof: list[bytes] | None = None) -> list[str]:
    """Require `root` anchored on every chain of `clients` (two or more distinct chain ids),
    and, given a leaf and proof, each contract to accept them. Returns what held."""
    chain_ids = [c.w3.eth.chain_id for c in clients]
    if len(set(chain_ids)) < 2:
        raise IntegrityError(f"cross-chain verification needs two distinct chains, got ids {chain_ids}")
    held = []
    for client, chain_id in zip(clients, chain_ids):
        if not client.is_anchored(root):
            raise IntegrityError(f"root 0x{root.hex()} is not anchored on chain {chain_id} ({_chain_name(client)})")
        if leaf is not None and not client.verify_receipt(leaf, proof or [], root):
            raise IntegrityError(f"the contract on chain {chain_id} rejects the inclusion proof")
        held.append(f"root anchored on chain {chain_id} at {client.address}")
    return held
