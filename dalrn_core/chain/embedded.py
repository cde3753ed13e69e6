"""An in-process EVM (py-evm through eth-tester) that keeps its state across processes.

py-evm holds state in memory only, so every accepted transaction is appended to a journal
(raw signed bytes and its block timestamp). Opening the chain replays the journal with the
same timestamps, which rebuilds the same contract state and transaction hashes; a replayed
transaction whose hash or status differs from the journal is refused as tampering. Each
send first catches up with entries other processes appended (under a file lock), so two
commands never fork the chain.
"""

from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from pathlib import Path

from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import to_canonical_address, to_wei
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from dalrn_core.errors import IntegrityError

GENESIS_BALANCE = to_wei(1_000_000, "ether")


class EmbeddedChain:
    """A py-evm chain persisted as a journal of transactions at `journal_path`."""

    def __init__(self, journal_path: Path, funded_addresses: list[str]) -> None:
        self.journal_path = Path(journal_path)
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.journal_path.with_suffix(".lock")
        with self._locked():
            header = self._read_header(funded_addresses)
        self.header = header
        state = {
            to_canonical_address(addr): {"balance": GENESIS_BALANCE, "nonce": 0, "code": b"", "storage": {}}
            for addr in header["funded"]
        }
        params = PyEVMBackend.generate_genesis_params({"timestamp": header["genesis_timestamp"]})
        self._backend = PyEVMBackend(genesis_parameters=params, genesis_state=state)
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(self._backend)))
        self._applied = 0
        with self._locked():
            self._catch_up()

    @contextmanager
    def _locked(self):
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_header(self, funded_addresses: list[str]) -> dict:
        if self.journal_path.exists() and self.journal_path.stat().st_size:
            with open(self.journal_path) as handle:
                return json.loads(handle.readline())
        header = {
            "kind": "dalrn.embedded-chain/1",
            "genesis_timestamp": int(time.time()) - 1,
            "funded": sorted(Web3.to_checksum_address(a) for a in funded_addresses),
        }
        self.journal_path.write_text(json.dumps(header) + "\n")
        return header

    def _entries(self) -> list[dict]:
        with open(self.journal_path) as handle:
            lines = handle.read().splitlines()[1:]
        return [json.loads(line) for line in lines if line.strip()]

    def _apply(self, raw_tx: bytes, timestamp: int) -> dict:
        chain = self._backend.chain
        chain.header = chain.header.copy(timestamp=timestamp)
        tx_hash = self.w3.eth.send_raw_transaction(raw_tx)
        return dict(self.w3.eth.get_transaction_receipt(tx_hash))

    def _catch_up(self) -> None:
        entries = self._entries()
        for number, entry in enumerate(entries[self._applied :], start=self._applied + 1):
            receipt = self._apply(bytes.fromhex(entry["raw"]), entry["timestamp"])
            if receipt["transactionHash"].hex().removeprefix("0x") != entry["tx_hash"].removeprefix("0x"):
                raise IntegrityError(f"embedded chain journal entry {number}: transaction hash differs on replay")
            if receipt["status"] != entry["status"]:
                raise IntegrityError(f"embedded chain journal entry {number}: status differs on replay")
        self._applied = len(entries)

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def send_raw_transaction(self, raw_tx: bytes) -> dict:
        """Apply a signed transaction, journal it, and return its receipt."""
        with self._locked():
            self._catch_up()
            parent = self.w3.eth.get_block("latest")["timestamp"]
            timestamp = max(int(time.time()), parent + 1)
            receipt = self._apply(raw_tx, timestamp)
            entry = {
                "raw": raw_tx.hex(),
                "timestamp": timestamp,
                "tx_hash": receipt["transactionHash"].hex(),
                "status": receipt["status"],
            }
            with open(self.journal_path, "a") as handle:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
            self._applied += 1
        return receipt

    def refresh(self) -> None:
        """Apply journal entries that other processes appended since this one opened."""
        with self._locked():
            self._catch_up()
