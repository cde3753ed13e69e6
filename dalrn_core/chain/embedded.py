"""An in-process EVM (py-evm through eth-tester) that keeps its state across processes.

py-evm holds state in memory only, so every accepted transaction is appended to a journal
(raw signed bytes and its block timestamp). Opening the chain replays the journal with the
same timestamps, which rebuilds the same contract state and transaction hashes; a replayed
transaction whose hash or status differs from the journal is refused as tampering. Each
send first catches up with entries other processes appended (under a file lock), so two
commands never fork the chain.

An entry is fsynced before its receipt is returned. A crash in the middle of that write
leaves a torn last line (one without its newline): the next opening cuts it off, keeping
its bytes beside the journal (`<journal>.torn-<time>`), since nobody was told that
transaction happened. A line that does not parse with complete lines after it is not a
torn write but damage, and opening refuses it, naming the file and the line.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rlp  # type: ignore[import-untyped]  # pyrlp ships no type information
from eth.db import get_db_backend
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak
from eth_utils.currency import to_wei
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return
from web3.types import TxReceipt

from dalrn_core.chain.anchor import plain_receipt
from dalrn_core.durable import append_durably, fsync_dir, write_durably
from dalrn_core.errors import IntegrityError

log = logging.getLogger(__name__)
ENTRY_FIELDS = ("raw", "timestamp", "tx_hash", "status")

GENESIS_BALANCE = to_wei(1_000_000, "ether")


class _ReplayableBackend(PyEVMBackend):  # type: ignore[misc]  # eth-tester ships no type information
    """eth-tester's py-evm backend, each block's mix hash (post-merge `prevrandao`) derived
    from its number and transactions instead of drawn at random: replaying the journal then
    rebuilds the same block hashes in every process, so a block hash recorded by one process
    (an anchor's, a proof's) is the one every other reads, and the reorg re-check finds no
    reorg where there was none."""

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = bytes(20)) -> tuple[bytes, ...]:
        hashes = []
        for _ in range(num_blocks):
            pending = self.chain.get_block()
            seed = pending.header.block_number.to_bytes(32, "big") + b"".join(tx.hash for tx in pending.transactions)
            hashes.append(self.chain.mine_block(
                coinbase=coinbase, mix_hash=keccak(seed),
                blob_gas_used=sum(get_total_blob_gas(tx) for tx in pending.transactions)).hash)
        return tuple(hashes)


def _backend_with_chain_id(chain_id: int, genesis_parameters: dict[str, Any],
                           genesis_state: dict[bytes, dict[str, Any]]) -> Any:
    """eth-tester's py-evm backend with a chain id of our choice.

    eth-tester's `setup_tester_chain` fixes the chain id (131277322940537); this rebuilds the
    same genesis with a subclass of its chain class that only changes `chain_id` (which the
    EVM uses for CHAINID and to check signatures), and `_endpoints` makes web3 report it.
    The backend is returned as eth-tester's untyped object.
    """
    backend = _ReplayableBackend(genesis_parameters=genesis_parameters, genesis_state=genesis_state)
    chain_class: Any = type("DalrnTesterChain", (type(backend.chain),), {"chain_id": chain_id})
    backend.chain = chain_class.from_genesis(get_db_backend(), genesis_parameters, genesis_state)
    return backend


def _signed_chain_id(raw_tx: bytes) -> int | None:
    """The chain id a raw transaction was signed for (None for a pre-EIP-155 legacy one)."""
    if raw_tx and raw_tx[0] < 0x7F:  # EIP-2718 typed: type byte, then RLP list with chain id first
        return int.from_bytes(rlp.decode(raw_tx[1:])[0], "big")
    v = int.from_bytes(rlp.decode(raw_tx)[6], "big")
    return (v - 35) // 2 if v >= 35 else None


def _parse_entry(line: bytes) -> dict[str, Any] | None:
    """A journal line as an entry, or None if it is not one."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or any(name not in entry for name in ENTRY_FIELDS):
        return None
    return entry


def _endpoints(header: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """web3's eth-tester RPC table, answering `eth_chainId` with the journal's chain id."""
    if header.get("chain_id") is None:
        return None
    table = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    table["eth"]["chainId"] = static_return(header["chain_id"])
    return table


class EmbeddedChain:
    """A py-evm chain persisted as a journal of transactions at `journal_path`.

    `chain_id` picks the chain id of a new journal (default: eth-tester's); a journal keeps
    the chain id it was created with.
    """

    def __init__(self, journal_path: Path, funded_addresses: list[str], chain_id: int | None = None) -> None:
        self.journal_path = Path(journal_path)
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.journal_path.with_suffix(".lock")
        # The file lock keeps other processes out; threads of this one sharing this chain
        # (a worker's disputes anchor from its thread pool) take this lock as well.
        self._thread_lock = threading.RLock()
        with self._locked():
            header = self._read_header(funded_addresses, chain_id)
        self.header: dict[str, Any] = header
        state: dict[bytes, dict[str, Any]] = {
            to_canonical_address(addr): {"balance": GENESIS_BALANCE, "nonce": 0, "code": b"", "storage": {}}
            for addr in header["funded"]
        }
        params = PyEVMBackend.generate_genesis_params({"timestamp": header["genesis_timestamp"]})
        if header.get("chain_id") is None:
            self._backend = _ReplayableBackend(genesis_parameters=params, genesis_state=state)
        else:
            self._backend = _backend_with_chain_id(header["chain_id"], params, state)
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(self._backend), api_endpoints=_endpoints(header)))
        self._applied = 0
        self._seen: list[dict[str, Any]] = []  # the journal entries applied here, in order
        with self._locked():
            self._catch_up()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_header(self, funded_addresses: list[str], chain_id: int | None) -> dict[str, Any]:
        if self.journal_path.exists() and self.journal_path.stat().st_size:
            first, newline, rest = self.journal_path.read_bytes().partition(b"\n")
            try:
                written: dict[str, Any] = json.loads(first) if newline else {}
            except ValueError:
                written = {}
            if written.get("kind") == "dalrn.embedded-chain/1":
                return written
            if rest.strip():
                raise IntegrityError(f"embedded chain journal {self.journal_path}, line 1: not a journal header, "
                                     "and entries follow it; restore the journal from a backup")
            # The header's own first write was torn: no transaction was ever journaled.
            self._set_aside(first + newline, 1)
        header: dict[str, Any] = {
            "kind": "dalrn.embedded-chain/1",
            "genesis_timestamp": int(time.time()) - 1,
            "funded": sorted(Web3.to_checksum_address(a) for a in funded_addresses),
        }
        if chain_id is not None:
            header["chain_id"] = chain_id
        write_durably(self.journal_path, (json.dumps(header) + "\n").encode())
        return header

    def _set_aside(self, torn: bytes, line: int) -> None:
        kept = self.journal_path.with_name(f"{self.journal_path.name}.torn-{time.time_ns()}")
        write_durably(kept, torn)
        log.warning("embedded chain journal %s: line %d was torn by an interrupted write; cut off "
                    "(its bytes are kept in %s)", self.journal_path, line, kept)

    def _entries(self) -> list[dict[str, Any]]:
        """The journal's entries; a torn last line is cut off, other damage refused.

        The caller holds the journal lock.
        """
        data = self.journal_path.read_bytes()
        lines = data.split(b"\n")  # the last piece is what follows the final newline
        entries: list[dict[str, Any]] = []
        offset = len(lines[0]) + 1
        for number, line in enumerate(lines[1:], start=2):
            final_piece = number == len(lines)
            if not line.strip():
                offset += len(line) + 1
                continue
            entry = None if final_piece else _parse_entry(line)  # an unterminated line is torn
            if entry is None:
                if not final_piece:
                    raise IntegrityError(f"embedded chain journal {self.journal_path}, line {number}: not a "
                                         "journal entry, and lines follow it; restore the journal from a backup")
                self._set_aside(line, number)
                with open(self.journal_path, "r+b") as handle:
                    handle.truncate(offset)
                    handle.flush()
                    os.fsync(handle.fileno())
                fsync_dir(self.journal_path.parent)
                break
            entries.append(entry)
            offset += len(line) + 1
        return entries

    def _apply(self, raw_tx: bytes, timestamp: int) -> TxReceipt:
        chain = self._backend.chain
        chain.header = chain.header.copy(timestamp=timestamp)
        tx_hash = self.w3.eth.send_raw_transaction(raw_tx)
        return plain_receipt(self.w3.eth.get_transaction_receipt(tx_hash))

    def _catch_up(self) -> None:
        entries = self._entries()
        if entries[:self._applied] != self._seen:  # what this process applied must not change under it
            raise IntegrityError(f"embedded chain journal {self.journal_path}: its first {self._applied} "
                                 "transactions are not the ones this process applied")
        for number, entry in enumerate(entries[self._applied :], start=self._applied + 1):
            receipt = self._apply(bytes.fromhex(entry["raw"]), entry["timestamp"])
            if receipt["transactionHash"].hex().removeprefix("0x") != entry["tx_hash"].removeprefix("0x"):
                raise IntegrityError(f"embedded chain journal entry {number}: transaction hash differs on replay")
            if receipt["status"] != entry["status"]:
                raise IntegrityError(f"embedded chain journal entry {number}: status differs on replay")
        self._seen.extend(entries[self._applied:])
        self._applied = len(entries)

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def send_raw_transaction(self, raw_tx: bytes) -> TxReceipt:
        """Apply a signed transaction, journal it, and return its receipt.

        A transaction signed for another chain id is refused (EIP-155 replay protection;
        py-evm leaves that check to the client).
        """
        signed_for = _signed_chain_id(raw_tx)
        if signed_for is not None and signed_for != self.chain_id:
            raise IntegrityError(f"transaction signed for chain id {signed_for}, this chain is {self.chain_id}")
        with self._locked():
            self._catch_up()
            parent = self.w3.eth.get_block("latest")["timestamp"]
            timestamp = max(int(time.time()), parent + 1)
            before = self._backend.take_snapshot()
            receipt = self._apply(raw_tx, timestamp)
            entry = {
                "raw": raw_tx.hex(),
                "timestamp": timestamp,
                "tx_hash": receipt["transactionHash"].hex(),
                "status": receipt["status"],
            }
            try:
                append_durably(self.journal_path, json.dumps(entry) + "\n")
            except OSError:
                # Not journaled (a full disk): the transaction must not exist in memory
                # either, or this process would see a root anchored that no restart sees.
                self._backend.revert_to_snapshot(before)
                raise
            self._seen.append(entry)
            self._applied += 1
        return receipt

    def refresh(self) -> None:
        """Apply journal entries that other processes appended since this one opened."""
        with self._locked():
            self._catch_up()
