"""Which chains anchor receipt roots, with which key, and in which order.

An `AnchorChain` block is one chain: `embedded` (the in-process EVM journaled in the data
folder) or `rpc` (a JSON-RPC network: name, chain id, RPC URL, contract, confirmations and
fee caps, optionally starting from a shipped network such as `sepolia` or `polygon-amoy`).
Its `fallbacks` name other AnchorChain blocks: the policy is primary with fallback.
"""

from __future__ import annotations

import os
from datetime import datetime

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr

from dalrn_core.chain.anchor import AnchorClient, anchorer_account
from dalrn_core.chain.local import ANCHORER_KEY_FILE, open_embedded_anchor
from dalrn_core.chain.multichain import FallbackAnchorClient
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, load_network
from dalrn_core.errors import InputError
from dalrn_core.keys import created_at, load_or_create
from dalrn_core.observability.key_dates import ANCHORER, record_key_created
from dalrn_core.settings import settings


class AnchorChain(Block):
    """A chain for anchoring; `embedded` is the in-process EVM journaled in the data folder."""

    _block_type_name = "DALRN Anchor Chain"
    name: str = Field(default="embedded")
    kind: str = Field(default="embedded", pattern="^(embedded|rpc)$")
    network: str | None = Field(default=None, description="shipped network to start from (sepolia, polygon-amoy)")
    chain_id: int | None = Field(default=None, description="expected chain id (checked against the node)")
    # Hosted endpoints carry their API key in the URL: a secret, so Prefect stores it encrypted
    # and shows it masked (its events and API answers included), never in the clear.
    rpc_url: SecretStr | None = Field(default=None, description="JSON-RPC endpoint (kept secret: it often holds "
                                                                 "the provider's API key)")
    contract_address: str | None = Field(default=None, description="deployed AnchorReceipts")
    confirmations: int | None = Field(default=None, ge=1)
    max_fee_gwei: float | None = Field(default=None, gt=0)
    max_tip_gwei: float | None = Field(default=None, ge=0)
    key_secret: str | None = Field(default=None, description="Secret block holding the anchorer's hex key")
    fallbacks: list[str] = Field(default_factory=list, description="AnchorChain blocks to try next, in order")

    def config(self) -> ChainConfig:
        """The ChainConfig of an `rpc` block: the shipped network, overridden by set fields."""
        fields = {k: getattr(self, k) for k in ("chain_id", "contract_address", "confirmations",
                                                 "max_fee_gwei", "max_tip_gwei") if getattr(self, k) is not None}
        if self.rpc_url is not None:
            fields["rpc_url"] = self.rpc_url.get_secret_value()
        if "name" in self.model_fields_set:
            fields["name"] = self.name
        if self.network:
            return load_network(self.network, **fields)
        for required in ("chain_id", "rpc_url"):
            if required not in fields:
                raise InputError.one(required, f"an rpc AnchorChain without a network needs {required}")
        return ChainConfig(**{"name": self.name, **fields})

    def _key(self) -> bytes:
        """The anchorer's key (its Secret block's, else the key file's); exports when it was made."""
        if self.key_secret:
            secret = Secret.load(self.key_secret)
            record_key_created(ANCHORER, _saved_at(secret))
            return bytes.fromhex(secret.get().removeprefix("0x"))
        key = load_or_create(ANCHORER_KEY_FILE, lambda: os.urandom(32))
        record_key_created(ANCHORER, created_at(ANCHORER_KEY_FILE))
        return key

    def open_one(self) -> AnchorClient:
        """This chain's client, without its fallbacks."""
        if self.kind == "embedded":
            return open_embedded_anchor()
        return RpcAnchorClient(self.config(), anchorer_account(self._key()))

    def open(self) -> AnchorClient | FallbackAnchorClient:
        """This chain's client, or the primary-with-fallback policy over it and its fallbacks."""
        if not self.fallbacks:
            return self.open_one()
        return chain_policy([self, *(AnchorChain.load(name) for name in self.fallbacks)])


def _saved_at(block: Block) -> datetime | None:
    """When a saved block was last saved (a Secret's value set), or None when not known."""
    from prefect.client.orchestration import get_client

    document_id = getattr(block, "_block_document_id", None)
    if document_id is None:
        return None
    try:
        with get_client(sync_client=True) as client:
            document = client.read_block_document(document_id, include_secrets=False)
    except Exception:  # noqa: BLE001 - a missing date must not stop the anchoring
        return None
    return document.updated or document.created


def chain_policy(chains: list[AnchorChain]) -> FallbackAnchorClient:
    """Primary with fallback over `chains`, in the given order."""
    return FallbackAnchorClient([chain.open_one() for chain in chains])


def anchor_client(block_name: str | None = None) -> AnchorClient | FallbackAnchorClient:
    """The named chain's client, else `DALRN_CHAIN_BLOCK`'s, else the embedded chain's."""
    block_name = block_name or settings().chain_block
    block = AnchorChain.load(block_name) if block_name else AnchorChain()
    return block.open()
