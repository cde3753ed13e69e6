"""Where evidence, receipts and memos are stored by CID."""

from __future__ import annotations

from pathlib import Path

from prefect.blocks.core import Block
from pydantic import Field

from dalrn_core.evidence.store import ContentStore, LocalContentStore


class EvidenceStore(Block):
    """A content-addressed store; `local` is a folder in the project data folder."""

    _block_type_name = "DALRN Evidence Store"
    kind: str = Field(default="local", pattern="^(local)$", description="backend: local")
    path: str | None = Field(default=None, description="folder for the local store")

    def open(self) -> ContentStore:
        return LocalContentStore(Path(self.path) if self.path else None)


def content_store(block_name: str | None = None) -> ContentStore:
    """The configured store: the named block if given, else the local default."""
    block = EvidenceStore.load(block_name) if block_name else EvidenceStore()
    return block.open()
