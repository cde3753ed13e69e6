"""Sending a transaction to a real network until it is final enough, exactly once.

1. Estimate gas (a revert here is refused with the contract's custom error name).
2. Under the nonce lock: take the nonce, quote EIP-1559 fees, sign; write the intent
   (nonce, raw signed bytes, hash, fees) durably when the caller gives an intent file;
   only then broadcast.
3. Poll every hash signed for this nonce; if none is mined after `stuck_after_s`, re-sign
   the same nonce with fees raised 12.5% (nodes need 10%), record it, broadcast again.
4. Once mined, wait for `confirmations` blocks, then check the receipt is still there and
   its block is still canonical; if a reorg took it out, go back to step 3.
After a restart, `send` with the same intent file resumes at step 3 with what was recorded
(the same nonce, the same transactions, the stuck timer of the last broadcast); it signs
nothing new unless the nonce was taken by a transaction that is none of ours, so at most
one of the versions can ever be mined. A duplicate broadcast ("already known", or "nonce
too low" for a hash the node has) counts as sent, so the transport's retries never send a
different transaction.
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
from dalrn_core.chain.intents import IntentFile, SignedVersion, TxIntent
from dalrn_core.chain.nonces import NonceManager
from dalrn_core.chain.rpc import TransientRPCError
from dalrn_core.errors import IntegrityError


class NotMinedError(TimeoutError):
    """The transaction was not mined and confirmed within the time allowed."""


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

    def _sign(self, tx: TxFields, nonce: int, fees: Fees) -> SignedVersion:
        raw = self.account.sign_transaction({**tx, "nonce": nonce, **fees.as_tx()}).raw_transaction
        return SignedVersion(tx_hash=Web3.to_hex(Web3.keccak(raw)), raw=raw.hex(), max_fee_wei=fees.max_fee_wei,
                             tip_wei=fees.tip_wei, sent_at=time.time())

    def _broadcast(self, version: SignedVersion) -> None:
        try:
            self.w3.eth.send_raw_transaction(bytes.fromhex(version.raw.removeprefix("0x")))
        except (Web3RPCError, ValueError) as exc:
            text = _message(exc)
            if "already known" in text or "known transaction" in text:
                return
            if "nonce too low" in text and self._known(HexStr(version.tx_hash)):
                return  # an earlier attempt of this very transaction got through
            raise

    def _known(self, tx_hash: HexStr) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def _mined(self, hashes: list[str]) -> TxReceipt | None:
        for tx_hash in hashes:
            try:
                return plain_receipt(self.w3.eth.get_transaction_receipt(HexStr(tx_hash)))
            except TransactionNotFound:
                continue
        return None

    def _nonce_taken(self, intent: TxIntent) -> bool:
        """Whether the intent's nonce was used and none of its versions is mined: then a
        transaction that is none of ours took it, and none of ours can ever be mined."""
        used = self.w3.eth.get_transaction_count(self.account.address, "latest") > intent.nonce
        return used and self._mined(intent.tx_hashes) is None

    def _estimate(self, tx: TxFields) -> int:
        try:
            return int(estimate_gas(self.w3, tx) * 1.2)
        except (ContractCustomError, ContractLogicError) as exc:
            raise IntegrityError(f"the contract refused the transaction: {revert_reason(exc)}") from None

    def send(self, tx: TxFields, *, intent: IntentFile | None = None) -> SentTransaction:
        """Send `tx` (to, data, value) and return it once mined and confirmed.

        With `intent`, what is signed is recorded there before it is broadcast, and an
        intent already recorded there (a run that died waiting) is resumed instead of
        sending `tx` anew: its transaction is the one that goes out.
        """
        tx = {**tx, "from": self.account.address, "chainId": self.chain_id}
        for _ in range(3):
            recorded = intent.load() if intent is not None else None
            if recorded is None:
                recorded = self._first_broadcast(tx, intent)
            else:
                self._check_owner(recorded, intent)
                self._rebroadcast(recorded)
            sent = self._wait(recorded, intent)
            if sent is not None:
                return sent
            # The nonce went to a transaction that is none of ours: ours can never be mined.
            if intent is not None:
                intent.remove()
            self.nonces.reset()
        raise IntegrityError(f"chain {self.chain_id}: the nonces of {self.account.address} were taken by other "
                             "transactions three times in a row; is another wallet using this key?")

    def _check_owner(self, recorded: TxIntent, intent: IntentFile | None) -> None:
        if recorded.chain_id != self.chain_id or recorded.sender.lower() != self.account.address.lower():
            where = intent.path if intent is not None else "the intent"
            raise IntegrityError(f"transaction intent {where} was signed by {recorded.sender} on chain "
                                 f"{recorded.chain_id}, not by {self.account.address} on chain {self.chain_id}")

    def _first_broadcast(self, tx: TxFields, intent: IntentFile | None) -> TxIntent:
        tx = {**tx, "gas": self._estimate(tx)}
        for attempt in range(2):
            try:
                with self.nonces.reserve() as nonce:
                    version = self._sign(tx, nonce, quote_fees(self.w3, self.caps))
                    recorded = TxIntent(self.chain_id, self.account.address, nonce, tx=tx, versions=[version])
                    if intent is not None:
                        intent.save(recorded)  # on disk before anything is on the wire
                    self._broadcast(version)
                return recorded
            except (Web3RPCError, ValueError) as exc:
                taken = "nonce too low" in _message(exc) or "underpriced" in _message(exc)
                if not taken or attempt:
                    raise
                # Another process used (or holds pending) this nonce: re-read the node's count.
                self.nonces.reset()
        raise AssertionError("unreachable: the loop returns or raises")

    def _rebroadcast(self, recorded: TxIntent) -> None:
        """Hand the latest recorded version to the node again (it may have forgotten it)."""
        if self._mined(recorded.tx_hashes) is not None:
            return  # (a version recorded as mined that a reorg dropped is handed out again)
        try:
            self._broadcast(recorded.versions[-1])
        except (Web3RPCError, ValueError) as exc:
            if "nonce too low" in _message(exc) or "underpriced" in _message(exc):
                return  # mined meanwhile, taken, or an earlier version is still pooled: `_wait` sees which
            raise

    def _replace(self, recorded: TxIntent, intent: IntentFile | None) -> None:
        last = recorded.versions[-1]
        try:
            fees = bump_fees(Fees(last.max_fee_wei, last.tip_wei), self.caps, quote_fees(self.w3, self.caps))
        except FeeCapExceeded:
            return  # at the caps: keep waiting for the transactions already out
        with self.nonces.lock:
            version = self._sign(recorded.tx, recorded.nonce, fees)
            recorded.versions.append(version)
            if intent is not None:
                intent.save(recorded)
            try:
                self._broadcast(version)
            except (Web3RPCError, ValueError, TransientRPCError) as exc:
                if "nonce too low" in _message(exc) or "underpriced" in _message(exc):
                    return  # an earlier one was mined, or the pool wants more: the loop sees which
                raise

    def _wait(self, recorded: TxIntent, intent: IntentFile | None) -> SentTransaction | None:
        """The confirmed transaction, or None when its nonce was taken by another one."""
        deadline = time.monotonic() + self.timeout_s
        tried_replacing = recorded.versions[-1].sent_at
        while time.monotonic() < deadline:
            receipt = self._mined(recorded.tx_hashes)
            if receipt is None:
                if self._nonce_taken(recorded):
                    return None
                if time.time() - max(recorded.versions[-1].sent_at, tried_replacing) >= self.stuck_after_s:
                    self._replace(recorded, intent)
                    tried_replacing = time.time()
            elif (self.w3.eth.block_number - receipt["blockNumber"] + 1 >= self.confirmations
                  and still_included(self.w3, receipt["transactionHash"], receipt["blockHash"])):
                if receipt["status"] != 1:
                    raise IntegrityError(f"transaction {Web3.to_hex(receipt['transactionHash'])} reverted")
                recorded.mined = {"tx_hash": Web3.to_hex(receipt["transactionHash"]),
                                  "block_hash": Web3.to_hex(receipt["blockHash"]),
                                  "block_number": receipt["blockNumber"]}
                if intent is not None:
                    intent.save(recorded)
                return SentTransaction(receipt, recorded.nonce, [HexStr(h) for h in recorded.tx_hashes],
                                       [Fees(v.max_fee_wei, v.tip_wei) for v in recorded.versions])
            time.sleep(self.poll_s)
        raise NotMinedError(
            f"nonce {recorded.nonce} on chain {self.chain_id}: not confirmed within {self.timeout_s:.0f} s "
            f"({len(recorded.versions)} broadcasts)"
        )
