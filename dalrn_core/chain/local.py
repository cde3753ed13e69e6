"""The embedded default: AnchorReceipts on a journaled in-process EVM in the data folder."""

from __future__ import annotations

import json
import os

from eth_account.signers.local import LocalAccount

from dalrn_core.chain.anchor import AnchorClient, anchorer_account, deploy_anchor_contract
from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.config import sub_dir
from dalrn_core.durable import write_durably
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


def open_embedded_anchor() -> EmbeddedAnchorClient:
    """The anchor client of the embedded chain, deploying the contract on first use."""
    account = anchorer_account(load_or_create(ANCHORER_KEY_FILE, lambda: os.urandom(32)))
    record_key_created(ANCHORER, created_at(ANCHORER_KEY_FILE))
    folder = sub_dir("chain")
    chain = EmbeddedChain(folder / "embedded-journal.jsonl", funded_addresses=[account.address])
    deployment = folder / "embedded-deployment.json"
    if deployment.exists():
        address = json.loads(deployment.read_text())["address"]
    else:
        address = deploy_anchor_contract(chain.w3, account, chain.send_raw_transaction)
        write_durably(deployment, (json.dumps({"address": address, "chain_id": chain.chain_id}) + "\n").encode())
    return EmbeddedAnchorClient(chain, account, address)
