"""EIP-1559 fees from `eth_feeHistory`, within caps, and the bump that replaces a stuck
transaction.

Quote (the rule most wallets follow, after EIP-1559's "max fee = 2 x base fee + tip"):
1. read the base fee of the next block and the chosen reward percentile of recent blocks;
2. tip = median of those rewards, clamped to [min tip, tip cap];
3. max fee = 2 x next base fee + tip, lowered to the max-fee cap if above it;
4. refuse (FeeCapExceeded) when even the next base fee plus the tip passes the cap.
Replacement: geth and most nodes accept a transaction with the same nonce only when both
the tip and the max fee rise by at least 10% (`txpool.pricebump`); we raise by 12.5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

from web3 import Web3
from web3.exceptions import MethodUnavailable, Web3RPCError
from web3.types import FeeHistory

GWEI = 10**9
BUMP_NUM, BUMP_DEN = 9, 8  # +12.5%, above the 10% nodes require


class FeeCapExceeded(RuntimeError):
    """The network asks more than the configured fee caps allow."""


@dataclass(frozen=True)
class FeeCaps:
    """Upper bounds on what a transaction may pay, in wei per gas."""

    max_fee_wei: int = 200 * GWEI
    max_tip_wei: int = 5 * GWEI
    min_tip_wei: int = GWEI // 10

    @classmethod
    def from_gwei(cls, max_fee: float, max_tip: float, min_tip: float = 0.1) -> FeeCaps:
        return cls(int(max_fee * GWEI), int(max_tip * GWEI), int(min_tip * GWEI))


@dataclass(frozen=True)
class Fees:
    max_fee_wei: int
    tip_wei: int

    def as_tx(self) -> dict[str, int]:
        return {"maxFeePerGas": self.max_fee_wei, "maxPriorityFeePerGas": self.tip_wei}


def _history(w3: Web3, blocks: int, percentile: float) -> tuple[int, list[int]]:
    """Next block's base fee and the recent tips at `percentile` (empty if unknown)."""
    history: FeeHistory | None
    try:
        history = w3.eth.fee_history(blocks, "latest", [percentile])
    except (MethodUnavailable, Web3RPCError, NotImplementedError, ValueError):
        history = None
    if history is None or not history.get("baseFeePerGas"):
        # Some dev chains lack eth_feeHistory: the latest base fee stands in for the next.
        return int(w3.eth.get_block("latest")["baseFeePerGas"]), []
    rewards = [int(r[0]) for r in history.get("reward") or [] if r]
    return int(history["baseFeePerGas"][-1]), rewards


def quote_fees(w3: Web3, caps: FeeCaps, *, blocks: int = 10, percentile: float = 50.0) -> Fees:
    """EIP-1559 fees for the next block within `caps` (see the module docstring)."""
    base, rewards = _history(w3, blocks, percentile)
    tip = int(median(rewards)) if rewards else caps.min_tip_wei
    tip = min(max(tip, caps.min_tip_wei), caps.max_tip_wei)
    if base + tip > caps.max_fee_wei:
        raise FeeCapExceeded(
            f"next base fee {base / GWEI:.3f} gwei + tip {tip / GWEI:.3f} gwei exceeds the cap "
            f"{caps.max_fee_wei / GWEI:.3f} gwei"
        )
    return Fees(min(2 * base + tip, caps.max_fee_wei), tip)


def bump_fees(old: Fees, caps: FeeCaps, fresh: Fees | None = None) -> Fees:
    """Fees for a replacement: both fields at least 12.5% above `old`, or the fresh quote
    if higher; FeeCapExceeded when the bump would pass the caps."""
    tip = max(math.ceil(old.tip_wei * BUMP_NUM / BUMP_DEN), fresh.tip_wei if fresh else 0)
    max_fee = max(math.ceil(old.max_fee_wei * BUMP_NUM / BUMP_DEN), fresh.max_fee_wei if fresh else 0)
    if tip > caps.max_tip_wei or max_fee > caps.max_fee_wei:
        raise FeeCapExceeded(
            f"replacing needs tip {tip} and max fee {max_fee} wei, above the caps "
            f"{caps.max_tip_wei} and {caps.max_fee_wei} wei"
        )
    return Fees(max_fee, max(tip, 1))
