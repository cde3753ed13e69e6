"""Sending a transaction to a real network until it is final enough.

1. Estimate gas (a revert here is refused with the contract's custom error name).
2. Under the nonce lock: take the nonce, quote EIP-1559 fees, sign, broadcast.
3. Poll every hash broadcast for this nonce; if none is mined after `stuck_after_s`,
   re-sign the same nonce with fees raised 12.5% (nodes need 10%) and broadcast again.
4. Once mined, wait for `confirmations` blocks, then check the receipt is still there and
   its block is still canonical; if a reorg took it out, go back to step 3.
A duplicate broadcast ("already known", or "nonce too low" for a hash the node has) counts
as sent, so the transport's retries never send a different transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxReceipt

from dalrn_core.chain.anchor import TxFields, estimate_gas, plain_receipt, revert_reason
from dalrn_core.chain.fees import FeeCapExceeded, FeeCaps, Fees, bump_fees, quote_fees
from dalrn_core.chain.nonces import NonceManager
from dalrn_core.chain.rpc import TransientRPCError
from dalrn_core.errors import IntegrityError


class NotMinedError(TimeoutError):
    """The transaction was not mined and confirmed within the time allowed."""


@dataclass
class Broadcasts:
    """Every version of one transaction broadcast so far: its nonce, hashes and fees."""

    nonce: int
    tx_hashes: list[HexStr] = field(default_factory=list)
    fees: list[Fees] = field(default_factory=list)


@dataclass
class SentTransaction:
    """A mined, confirmed transaction and every hash broadcast for its nonce."""

    receipt: TxReceipt
    nonce: int
    tx_hashes: list[HexStr] = field(default_factory=list)
    fees: list[Fees] = field(default_factory=list)

    @property
    def replacements(self) -> int:
        return len(self.tx_hashes) - 1


def _message(exc: Exception) -> str:
    return str(exc.args[0] if exc.args else exc).lower()


def still_included(w3: Web3, tx_hash: HexStr | HexBytes, block_hash: bytes | str) -> bool:
    """Whether `tx_hash` is still mined in the canonical block `block_hash` (no reorg)."""
    try:
        receipt = w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return False
    wanted = Web3.to_bytes(hexstr=HexStr(block_hash)) if isinstance(block_hash, str) else bytes(block_hash)
    canonical = w3.eth.get_block(receipt["blockNumber"])["hash"]
    return bytes(receipt["blockHash"]) == wanted and bytes(canonical) == wanted


class TxSender:
    """Sends transactions of one account on one chain (see the module docstring)."""

    def __init__(self, w3: Web3, account: LocalAccount, *, caps: FeeCaps | None = None,
                 confirmations: int = 1, stuck_after_s: float = 60.0, poll_s: float = 1.0,
                 timeout_s: float = 900.0, nonces: NonceManager | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.caps = caps or FeeCaps()
        self.confirmations = max(1, confirmations)
        self.stuck_after_s = stuck_after_s
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.nonces = nonces or NonceManager(w3, account.address)
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    def _broadcast(self, tx: TxFields) -> HexStr:
        raw = self.account.sign_transaction(tx).raw_transaction
        tx_hash = Web3.to_hex(Web3.keccak(raw))
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (Web3RPCError, ValueError) as exc:
            text = _message(exc)
            if "already known" in text or "known transaction" in text:
                return tx_hash
            if "nonce too low" in text and self._known(tx_hash):
                return tx_hash  # an earlier attempt of this very transaction got through
            raise
        return tx_hash

    def _known(self, tx_hash: HexStr) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def _mined(self, hashes: list[HexStr]) -> TxReceipt | None:
        for tx_hash in hashes:
            try:
                return plain_receipt(self.w3.eth.get_transaction_receipt(tx_hash))
            except TransactionNotFound:
                continue
        return None

    def _estimate(self, tx: TxFields) -> int:
        try:
            return int(estimate_gas(self.w3, tx) * 1.2)
        except (ContractCustomError, ContractLogicError) as exc:
            raise IntegrityError(f"the contract refused the transaction: {revert_reason(exc)}") from None

    def send(self, tx: TxFields) -> SentTransaction:
        """Send `tx` (to, data, value) and return it once mined and confirmed."""
        tx = {**tx, "from": self.account.address, "chainId": self.chain_id}
        tx["gas"] = self._estimate(tx)
        for attempt in range(2):
            try:
                with self.nonces.reserve() as nonce:
                    fees = quote_fees(self.w3, self.caps)
                    sent = Broadcasts(nonce=nonce, fees=[fees])
                    sent.tx_hashes.append(self._broadcast({**tx, "nonce": nonce, **fees.as_tx()}))
                break
            except (Web3RPCError, ValueError) as exc:
                taken = "nonce too low" in _message(exc) or "underpriced" in _message(exc)
                if not taken or attempt:
                    raise
                # Another process used (or holds pending) this nonce: re-read the node's count.
                self.nonces.reset()
        return self._wait(tx, sent)

    def _replace(self, tx: TxFields, sent: Broadcasts) -> None:
        try:
            fees = bump_fees(sent.fees[-1], self.caps, quote_fees(self.w3, self.caps))
        except FeeCapExceeded:
            return  # at the caps: keep waiting for the transactions already out
        with self.nonces.lock:
            try:
                tx_hash = self._broadcast({**tx, "nonce": sent.nonce, **fees.as_tx()})
            except (Web3RPCError, ValueError, TransientRPCError) as exc:
                if "nonce too low" in _message(exc) or "underpriced" in _message(exc):
                    return  # an earlier one was mined, or the pool wants more: the loop sees which
                raise
        sent.fees.append(fees)
        sent.tx_hashes.append(tx_hash)

    def _wait(self, tx: TxFields, sent: Broadcasts) -> SentTransaction:
        deadline = time.monotonic() + self.timeout_s
        last_broadcast = time.monotonic()
        while time.monotonic() < deadline:
            receipt = self._mined(sent.tx_hashes)
            if receipt is None:
                if time.monotonic() - last_broadcast >= self.stuck_after_s:
                    self._replace(tx, sent)
                    last_broadcast = time.monotonic()
            elif (self.w3.eth.block_number - receipt["blockNumber"] + 1 >= self.confirmations
                  and still_included(self.w3, receipt["transactionHash"], receipt["blockHash"])):
                if receipt["status"] != 1:
                    raise IntegrityError(f"transaction {Web3.to_hex(receipt['transactionHash'])} reverted")
                return SentTransaction(receipt, sent.nonce, sent.tx_hashes, sent.fees)
            time.sleep(self.poll_s)
        raise NotMinedError(
            f"nonce {sent.nonce} on chain {self.chain_id}: not confirmed within {self.timeout_s:.0f} s "
            f"({len(sent.tx_hashes)} broadcasts)"
        )
