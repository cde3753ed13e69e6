"""Anchoring Merkle roots with the AnchorReceipts contract, on any chain web3.py reaches.

`AnchorClient` signs transactions locally with the anchorer's key and hands the raw bytes to
a `submit` function: the embedded chain's journaled apply. On a real network
`dalrn_core.chain.production.RpcAnchorClient` replaces the sending step (nonce manager,
EIP-1559 fees, replacement of stuck transactions, confirmations).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxParams, TxReceipt

from dalrn_core.chain.contract import artifact
from dalrn_core.errors import IntegrityError

ZERO32 = b"\x00" * 32
TxFields = dict[str, Any]  # a transaction's fields, as eth_account signs them
Submit = Callable[[bytes], TxReceipt]


def plain_receipt(receipt: TxReceipt) -> TxReceipt:
    """A plain-dict copy of web3's read-only receipt mapping (same keys, picklable)."""
    return cast(TxReceipt, dict(receipt))


def estimate_gas(w3: Web3, tx: TxFields) -> int:
    """The node's gas estimate for `tx`.

    web3 types the transaction as its `TxParams` TypedDict while eth_account signs plain
    dicts; the fields are the same, so one dict serves both.
    """
    return w3.eth.estimate_gas(cast(TxParams, tx))


@dataclass(frozen=True)
class AnchorResult:
    """Where and how a root was anchored."""

    root: str
    tx_hash: str
    block_number: int
    gas_used: int
    batch_id: int
    chain_id: int
    contract: str
    block_hash: str = ""


def _transact(w3: Web3, account: LocalAccount, submit: Submit, tx: TxFields) -> TxReceipt:
    """Fill nonce, gas and EIP-1559 fees, sign locally, submit, require success."""
    tx = {
        **tx,
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    try:
        tx["gas"] = int(estimate_gas(w3, tx) * 1.2)
    except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
        raise IntegrityError(f"the contract refused the transaction: {revert_reason(exc)}") from None
    tip = w3.to_wei(1, "gwei")
    tx["maxPriorityFeePerGas"] = tip
    tx["maxFeePerGas"] = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tip
    receipt = submit(account.sign_transaction(tx).raw_transaction)
    if receipt["status"] != 1:
        raise IntegrityError(f"transaction {receipt['transactionHash'].hex()} reverted")
    return receipt


def _revert_bytes(arg: object) -> bytes | None:
    # eth-tester reports the revert data as the repr of a bytes object inside its message.
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str) and "b'" in arg or isinstance(arg, str) and 'b"' in arg:
        start = min(i for i in (arg.find("b'"), arg.find('b"')) if i >= 0)
        try:
            value = ast.literal_eval(arg[start:])
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) else None
    return None


def revert_reason(exc: Exception) -> str:
    """The custom error's name (from the ABI) behind a revert, or the node's message."""
    text = str(getattr(exc, "data", None) or (exc.args[0] if exc.args else exc))
    raw = _revert_bytes(exc.args[0] if exc.args else None)
    selectors: dict[bytes, str] = {
        function_signature_to_4byte_selector(
            f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        ): item["name"]
        for item in artifact()["abi"]
        if item["type"] == "error"
    }
    for selector, name in selectors.items():
        if (raw is not None and raw.startswith(selector)) or selector.hex() in text:
            return name
    return text


def deploy_anchor_contract(w3: Web3, account: LocalAccount, submit: Submit) -> str:
    """Deploy AnchorReceipts with `account` as admin and anchorer; returns its address."""
    build = artifact()
    factory = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
    data = factory.constructor(account.address).data_in_transaction
    address = _transact(w3, account, submit, {"data": data, "value": 0})["contractAddress"]
    if address is None:
        raise IntegrityError("the deployment transaction created no contract")
    return str(address)


class AnchorClient:
    """Anchors roots and checks inclusion proofs against one deployed AnchorReceipts.

    `finality_depth` is how many blocks on top of an anchor make it final: re-checks for
    reorgs stop there.
    """


    def __init__(self, w3: Web3, account: LocalAccount, submit: Submit, address: str) -> None:
        self.w3 = w3
        self.account = account
        self.submit = submit
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=artifact()["abi"])
        self.finality_depth = 64

    def _send(self, tx: TxFields, root: bytes | None = None) -> TxReceipt:
        """Sign and submit `tx` (anchoring `root`, if given); returns its successful receipt.

        The embedded chain applies and journals a transaction in one step under its lock, so
        nothing is ever in flight here; production overrides this with a durable intent.
        """
        return _transact(self.w3, self.account, self.submit, tx)

    def broadcast_pending(self, root: bytes) -> bool:
        """Whether an anchoring of `root` was broadcast from here and may still be mined."""
        return False

    def sync(self) -> None:
        """See what other processes sent since this client opened (a node needs nothing)."""

    def settle(self, root: bytes) -> None:
        """Forget what was kept in flight for `root`, once its anchor is recorded."""

    def anchor_root(
        self,
        root: bytes,
        leaf_count: int,
        manifest_uri: str,
        model_hash: bytes = ZERO32,
        fl_round: int = 0,
    ) -> AnchorResult:
        """Anchor `root` of a batch of `leaf_count` receipts; raises if it was anchored."""
        data = self.contract.encode_abi(
            "anchorRoot", args=[root, leaf_count, manifest_uri, model_hash, fl_round]
        )
        receipt = self._send({"to": self.address, "data": data, "value": 0}, root)
        event = self.contract.events.RootAnchored().process_receipt(receipt)[0]
        return AnchorResult(
            root="0x" + root.hex(),
            tx_hash="0x" + receipt["transactionHash"].hex().removeprefix("0x"),
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            batch_id=event["args"]["batchId"],
            chain_id=self.w3.eth.chain_id,
            contract=self.address,
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
        )

    def is_anchored(self, root: bytes) -> bool:
        """Whether the contract holds `root`; raises (never guesses) when the node cannot say."""
        anchored: bool = self.contract.functions.isAnchored(root).call({"from": self.account.address})
        return anchored

    def already_anchored(self, root: bytes) -> bool:
        """Whether a batch root (one only this data folder anchors) is on chain already; on
        one chain that is `is_anchored` (the fallback policy refines it)."""
        return self.is_anchored(root)

    def locate(self, root: bytes) -> AnchorResult | None:
        """Where `root` was anchored (transaction, block, batch id), read from the chain: the
        contract's record gives the block, its RootAnchored event there the transaction.

        None if the contract does not hold the root. An anchoring whose result a crash lost
        is found again this way, so its record keeps the transaction and block hash that the
        reorg re-check needs.
        """
        if not self.is_anchored(root):
            return None
        stored, _model_hash = self.contract.functions.anchorOf(root).call({"from": self.account.address})
        block_number = int(stored[1])
        events = list(self.contract.events.RootAnchored().get_logs(
            argument_filters={"root": root}, from_block=block_number, to_block=block_number))
        if not events:
            return None  # the node prunes logs: the root is held, its transaction cannot be named
        event = events[0]
        receipt = self.w3.eth.get_transaction_receipt(event["transactionHash"])
        return AnchorResult(
            root="0x" + root.hex(),
            tx_hash="0x" + bytes(event["transactionHash"]).hex(),
            block_number=int(event["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            batch_id=int(event["args"]["batchId"]),
            chain_id=self.w3.eth.chain_id,
            contract=self.address,
            block_hash="0x" + bytes(event["blockHash"]).hex(),
        )

    def verify_receipt(self, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
        """The contract's own check of an inclusion proof against an anchored root."""
        try:
            accepted: bool = self.contract.functions.verifyReceipt(leaf, proof, root).call(
                {"from": self.account.address})
            return accepted
        except (ContractCustomError, ContractLogicError, TransactionFailed):
            return False  # NotAnchored: a proof against an unknown root proves nothing


def anchorer_account(private_key: bytes) -> LocalAccount:
    """The anchorer's account; its key is remembered for redaction wherever it came from."""
    from dalrn_core.redact import remember_secret

    remember_secret(private_key)
    account: LocalAccount = Account.from_key(private_key)
    return account
