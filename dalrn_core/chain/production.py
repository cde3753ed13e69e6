"""AnchorReceipts on a real network through JSON-RPC: configuration, client, reorg repair.

`ChainConfig` describes one network (name, chain id, RPC URL, contract, confirmations, fee
caps, finality depth); `dalrn_core/chain/networks/*.json` ship Sepolia and Polygon Amoy.
`RpcAnchorClient` is an `AnchorClient` whose transactions go through `TxSender` over a
retrying, pooled HTTP transport, each anchoring with a durable intent
(`data/chain/intents/<chain id>-<contract>/<root>.json`) that a restarted process resumes
instead of sending a second `anchorRoot`. `ensure_anchored` re-checks an anchor after the
fact: if a reorg dropped its transaction and the contract no longer knows the root, the
root is anchored again.

The RPC URL of a hosted node usually embeds an API key: it is left out of the config's
repr, and messages name the node by its redacted URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from pydantic import SecretStr
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from dalrn_core.chain.anchor import ZERO32, AnchorClient, AnchorResult, TxFields, anchorer_account
from dalrn_core.chain.contract import artifact
from dalrn_core.chain.fees import FeeCaps
from dalrn_core.chain.intents import IntentFile
from dalrn_core.chain.rpc import RetryPolicy, rpc_web3
from dalrn_core.chain.sender import SentTransaction, TxSender, still_included
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.redact import redact_url
from dalrn_core.settings import field_of, setting

NETWORKS = Path(__file__).resolve().parent / "networks"


@dataclass(frozen=True)
class ChainConfig:
    """One network to anchor on. Fees are in gwei; no secrets here (keys come separately)."""

    name: str
    chain_id: int
    rpc_url: str = field(repr=False)
    contract_address: str | None = None
    confirmations: int = 3
    max_fee_gwei: float = 100.0
    max_tip_gwei: float = 3.0
    min_tip_gwei: float = 0.1
    stuck_after_s: float = 90.0
    poll_s: float = 2.0
    timeout_s: float = 900.0
    rpc_timeout_s: float = 10.0
    rpc_attempts: int = 6
    finality_depth: int = 64  # blocks on top of an anchor after which no reorg is expected

    @property
    def caps(self) -> FeeCaps:
        return FeeCaps.from_gwei(self.max_fee_gwei, self.max_tip_gwei, self.min_tip_gwei)

    def with_(self, **changes: Any) -> ChainConfig:
        return replace(self, **changes)


def load_network(network: str, **overrides: Any) -> ChainConfig:
    """The shipped configuration `networks/<name>.json` (e.g. sepolia, polygon-amoy).

    An `rpc_url` of the form `env:VAR` is read from that environment variable, since RPC
    URLs of hosted nodes usually embed an API key.
    """
    path = NETWORKS / f"{network}.json"
    if not path.exists():
        known = sorted(p.stem for p in NETWORKS.glob("*.json"))
        raise InputError.one("network", f"unknown network {network!r}; shipped: {', '.join(known)}")
    values = {**json.loads(path.read_text()), **overrides}
    if values["rpc_url"].startswith("env:"):
        variable = values["rpc_url"].removeprefix("env:")
        url: SecretStr | None = setting(field_of(variable))
        if url is None:
            raise InputError.one("rpc_url", f"set {variable} to the JSON-RPC URL of {network}")
        values["rpc_url"] = url.get_secret_value()
    return ChainConfig(**values)


class RpcAnchorClient(AnchorClient):
    """An AnchorClient on a JSON-RPC network; `sender` does nonces, fees and waiting."""

    def __init__(self, config: ChainConfig, account: LocalAccount, address: str | None = None) -> None:
        self.config = config
        policy = RetryPolicy(attempts=config.rpc_attempts)
        w3 = rpc_web3(config.rpc_url, session_key=f"{config.name}:{config.chain_id}", policy=policy,
                      timeout_s=config.rpc_timeout_s)
        address = address or config.contract_address
        if not address:
            raise InputError.one("contract_address", f"chain {config.name} has no AnchorReceipts address")
        super().__init__(w3, account, submit=self._no_raw_submit, address=address)
        self.sender = TxSender(w3, account, caps=config.caps, confirmations=config.confirmations,
                               stuck_after_s=config.stuck_after_s, poll_s=config.poll_s,
                               timeout_s=config.timeout_s)
        self.last_sent: SentTransaction | None = None
        self.finality_depth = config.finality_depth
        self._chain_checked = False

    def _intent(self, root: bytes) -> IntentFile:
        folder = sub_dir("chain", "intents", f"{self.config.chain_id}-{self.address.lower()}")
        return IntentFile(folder / f"0x{root.hex()}.json")

    def broadcast_pending(self, root: bytes) -> bool:
        return self._intent(root).exists()

    def settle(self, root: bytes) -> None:
        self._intent(root).remove()

    def is_anchored(self, root: bytes) -> bool:
        self.check_chain_id()
        return super().is_anchored(root)

    @staticmethod
    def _no_raw_submit(raw: bytes) -> TxReceipt:
        raise NotImplementedError("RpcAnchorClient sends through its TxSender")

    def check_chain_id(self) -> None:
        """Refuse a node that serves another chain than the configured one (asked once)."""
        if self._chain_checked:
            return
        actual = self.w3.eth.chain_id
        if actual != self.config.chain_id:
            raise IntegrityError(f"chain {self.config.name}: node at {redact_url(self.config.rpc_url)} serves "
                                 f"chain id {actual}, configured {self.config.chain_id}")
        self._chain_checked = True

    def _send(self, tx: TxFields, root: bytes | None = None) -> TxReceipt:
        self.check_chain_id()
        sent = self.sender.send(tx, intent=self._intent(root) if root is not None else None)
        self.last_sent = sent
        return sent.receipt


def deploy_rpc(config: ChainConfig, account: LocalAccount) -> str:
    """Deploy AnchorReceipts on `config`'s network with `account` as admin; its address."""
    w3 = rpc_web3(config.rpc_url, session_key=f"{config.name}:{config.chain_id}",
                  policy=RetryPolicy(attempts=config.rpc_attempts), timeout_s=config.rpc_timeout_s)
    build = artifact()
    data = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"]).constructor(account.address).data_in_transaction
    sender = TxSender(w3, account, caps=config.caps, confirmations=config.confirmations,
                      stuck_after_s=config.stuck_after_s, poll_s=config.poll_s, timeout_s=config.timeout_s)
    address = sender.send({"data": data, "value": 0}).receipt["contractAddress"]
    if address is None:
        raise IntegrityError(f"chain {config.name}: the deployment transaction created no contract")
    return str(address)


def open_rpc_anchor(config: ChainConfig, private_key: bytes) -> RpcAnchorClient:
    return RpcAnchorClient(config, anchorer_account(private_key))


def ensure_anchored(client: AnchorClient, result: AnchorResult, leaf_count: int, manifest_uri: str,
                    model_hash: bytes = ZERO32, fl_round: int = 0) -> AnchorResult:
    """Return `result` if its transaction is still canonical, else repair the anchor.

    A reorg can drop the block that anchored a root. Then, if the contract no longer holds
    the root, it is anchored again: an RPC client still holding the anchoring's intent
    hands out the same signed transaction (same nonce) again, else a new one is sent; if the
    contract does hold it (the transaction was re-mined in another block), the new location
    is looked up from the chain.
    """
    if not result.block_hash:
        raise InputError.one("result.block_hash", "an anchor result without its block hash cannot be re-checked")
    if still_included(client.w3, HexStr(result.tx_hash), result.block_hash):
        return result
    root = bytes.fromhex(result.root.removeprefix("0x"))
    sender = getattr(client, "sender", None)
    if sender is not None:
        sender.nonces.reset()  # the reorg may have taken our nonces back: ask the node again
    if client.is_anchored(root):
        try:
            receipt = client.w3.eth.get_transaction_receipt(HexStr(result.tx_hash))
        except TransactionNotFound:
            # The root is held, but not by our transaction: record the one that holds it.
            return client.locate(root) or result
        return replace(result, block_number=receipt["blockNumber"],
                       block_hash="0x" + bytes(receipt["blockHash"]).hex())
    if _pooled(client, result.tx_hash):
        return result  # the reorg put our transaction back in the pool: it is mined again, not resent
    return client.anchor_root(root, leaf_count, manifest_uri, model_hash, fl_round)


def _pooled(client: AnchorClient, tx_hash: str) -> bool:
    """Whether the node holds `tx_hash` unmined in its pool."""
    try:
        return client.w3.eth.get_transaction(HexStr(tx_hash))["blockNumber"] is None
    except TransactionNotFound:
        return False

