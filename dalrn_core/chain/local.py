"""The embedded default: AnchorReceipts on a journaled in-process EVM in the data folder."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from eth_account.signers.local import LocalAccount

from dalrn_core.chain.anchor import AnchorClient, anchorer_account, deploy_anchor_contract
from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.config import sub_dir
from dalrn_core.durable import write_durably
from dalrn_core.errors import IntegrityError
from dalrn_core.keys import created_at, load_or_create
from dalrn_core.observability.key_dates import ANCHORER, record_key_created

ANCHORER_KEY_FILE = "chain-anchorer.key"


class EmbeddedAnchorClient(AnchorClient):
    """An AnchorClient whose transactions go to the journaled embedded chain `chain`."""

    def __init__(self, chain: EmbeddedChain, account: LocalAccount, address: str) -> None:
        super().__init__(chain.w3, account, chain.send_raw_transaction, address)
        self.chain = chain
        self.finality_depth = 1  # the journal is the one history: nothing reorganises it

    def sync(self) -> None:
        # Another process may have anchored since this one replayed the journal: without this,
        # `already_anchored` would miss its root and the anchorer's nonce would be stale.
        self.chain.refresh()


_OPENED: dict[tuple[str, str, int, int] | None, EmbeddedAnchorClient] = {}  # (journal, anchorer, device, inode) -> client
_OPEN_LOCK = threading.Lock()


def open_embedded_anchor(*, own: bool = False) -> EmbeddedAnchorClient:
    """The anchor client of the embedded chain, deploying the contract on first use.

    Opened once per process and journal file, then brought up to date (`sync`): opening
    replays every journaled transaction, which made each dispute's anchoring cost more
    than the one before (seconds per dispute after a few thousand). `own=True` opens a
    client of its own, replayed afresh, as another process would.
    """
    account = anchorer_account(load_or_create(ANCHORER_KEY_FILE, lambda: os.urandom(32)))
    record_key_created(ANCHORER, created_at(ANCHORER_KEY_FILE))
    journal = sub_dir("chain") / "embedded-journal.jsonl"
    if own:
        return _open(journal, account)
    with _OPEN_LOCK:
        try:
            seen = journal.stat()
            key = (str(journal.resolve()), account.address, seen.st_dev, seen.st_ino)
        except FileNotFoundError:  # a new chain: opened afresh below
            key = None
        client = _OPENED.get(key) if key is not None else None
        if client is not None:
            try:
                client.sync()
                return client
            except IntegrityError:  # the journal changed under what this process applied: replay it afresh
                _OPENED.pop(key, None)
        client = _open(journal, account)
        seen = journal.stat()
        _OPENED[(str(journal.resolve()), account.address, seen.st_dev, seen.st_ino)] = client
        return client


def _open(journal: Path, account: LocalAccount) -> EmbeddedAnchorClient:
    folder = journal.parent
    chain = EmbeddedChain(journal, funded_addresses=[account.address])
    deployment = folder / "embedded-deployment.json"
    if deployment.exists():
        address = json.loads(deployment.read_text())["address"]
    else:
        address = deploy_anchor_contract(chain.w3, account, chain.send_raw_transaction)
        write_durably(deployment, (json.dumps({"address": address, "chain_id": chain.chain_id}) + "\n").encode())
    return EmbeddedAnchorClient(chain, account, address)
