"""Which chain anchors receipt roots, and with which key."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.chain.local import open_embedded_anchor


class AnchorChain(Block):
    """A chain for anchoring; `embedded` is the in-process EVM journaled in the data folder."""

    _block_type_name = "DALRN Anchor Chain"
    name: str = Field(default="embedded")
    kind: str = Field(default="embedded", pattern="^(embedded)$")

    def open(self) -> AnchorClient:
        return open_embedded_anchor()


def anchor_client(block_name: str | None = None) -> AnchorClient:
    block = AnchorChain.load(block_name) if block_name else AnchorChain()
    return block.open()
