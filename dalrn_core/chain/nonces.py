"""Nonces for one account shared by concurrent flows.

1. A lock serialises "choose nonce, sign, send" so two threads never pick the same one.
2. The next nonce is the larger of the node's pending count and our own counter, so
   transactions sent elsewhere (another process, a wallet) are respected.
3. "nonce too low" (someone else used it) drops our counter; the next choice re-reads the
   node. A send that never reached the node gives its nonce back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eth_typing import ChecksumAddress
from web3 import Web3


class NonceManager:
    """Hands out nonces of `address` on `w3`, one at a time."""

    def __init__(self, w3: Web3, address: ChecksumAddress) -> None:
        self.w3 = w3
        self.address = address
        self._next: int | None = None
        self._lock = threading.RLock()

    @contextmanager
    def reserve(self) -> Iterator[int]:
        """Hold the lock and yield the next nonce; it is consumed unless the body raises."""
        with self._lock:
            pending = self.w3.eth.get_transaction_count(self.address, "pending")
            nonce = max(pending, self._next or 0)
            yield nonce  # if the body raises, the counter stays below `nonce`: it is reused
            self._next = nonce + 1

    def reset(self) -> None:
        """Forget our counter (after "nonce too low"); the node's count rules again."""
        with self._lock:
            self._next = None

    @property
    def lock(self) -> threading.RLock:
        """The lock that also guards replacing a transaction at a nonce already taken."""
        return self._lock
