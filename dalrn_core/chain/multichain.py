"""Several chains: anchor on a primary with fallbacks, and check one root on two chains.

Selection policy "primary with fallback": try the chains in the configured order; a chain
that fails (unreachable after its retries, fees above its caps, not mined in time) hands
over to the next. A root already anchored on a chain counts as anchored there, so a retry
never pays twice. Cross-chain verification asks each chain's own contract.
"""

from __future__ import annotations

import logging
from typing import Any

from dalrn_core.chain.anchor import ZERO32, AnchorClient, AnchorResult
from dalrn_core.errors import IntegrityError

log = logging.getLogger(__name__)


def _chain_name(client: AnchorClient) -> str:
    config = getattr(client, "config", None)
    return config.name if config is not None else f"chain at {client.address}"


class FallbackAnchorClient:
    """Anchors on the first chain of `clients` that succeeds; the same methods as AnchorClient
    that batch anchoring uses (`anchor_root`, `is_anchored`, `verify_receipt`)."""

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
            except (OSError, TimeoutError, RuntimeError, IntegrityError) as exc:
                # OSError covers connection failures (TransientRPCError is a ConnectionError).
                self.failures.append(f"{_chain_name(client)}: {exc}")
                log.warning("anchoring on %s failed, trying the next chain: %s", _chain_name(client), exc)
        raise ConnectionError("every chain failed: " + "; ".join(self.failures))

    def is_anchored(self, root: bytes) -> bool:
        for client in self.clients:
            try:
                if client.is_anchored(root):
                    return True
            except OSError:
                continue  # an unreachable chain cannot say; another may
        return False

    def verify_receipt(self, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
        for client in self.clients:
            try:
                if client.is_anchored(root):
                    return client.verify_receipt(leaf, proof, root)
            except OSError:
                continue
        return False


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
