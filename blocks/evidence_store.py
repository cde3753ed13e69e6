"""Where evidence, receipts and memos are stored by CID."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect.blocks.core import Block
from pydantic import Field

from dalrn_core.evidence.ipfs import IpfsContentStore
from dalrn_core.evidence.store import ContentStore, LocalContentStore
from dalrn_core.settings import settings


class EvidenceStore(Block):
    """A content-addressed store: `local` (a folder in the data folder) or `ipfs` (kubo API).

    Both backends name the same bytes with the same CIDv1, so a store can be switched
    without changing any recorded CID.
    """

    _block_type_name = "DALRN Evidence Store"
    kind: str = Field(default="local", pattern="^(local|ipfs)$", description="backend: local or ipfs")
    path: str | None = Field(default=None, description="folder for the local store")
    api_url: str = Field(default="http://127.0.0.1:5001", description="kubo RPC API for kind ipfs")
    timeout_seconds: float = Field(default=30.0, gt=0, description="per-request timeout for kind ipfs")

    def open(self) -> ContentStore:
        if self.kind == "ipfs":
            return IpfsContentStore(self.api_url, timeout=self.timeout_seconds)
        return LocalContentStore(Path(self.path) if self.path else None)


def configured_store_block() -> EvidenceStore:
    """The store the environment chooses: `DALRN_CONTENT_STORE_BLOCK`, else `DALRN_CONTENT_STORE` and its options."""
    chosen = settings()
    if chosen.content_store_block:
        return cast(EvidenceStore, EvidenceStore.load(chosen.content_store_block))
    return EvidenceStore(kind=chosen.content_store, api_url=chosen.ipfs_api_url,
                         timeout_seconds=chosen.ipfs_timeout_s,
                         path=str(chosen.content_store_path) if chosen.content_store_path else None)


def content_store(block_name: str | None = None) -> ContentStore:
    """The named block's store if given, else the one the environment configures (local by default)."""
    block = EvidenceStore.load(block_name) if block_name else configured_store_block()
    return block.open()
