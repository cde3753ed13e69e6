"""Transport and fee rules: which RPC failures are retried, backoff bounds, fee quotes within
caps from a real EVM's fee history, and replacement bumps above the 10% nodes require."""

from __future__ import annotations

import random

import pytest
from eth_account import Account

from benchmarks.hardhat_node import free_port
from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.chain.fees import GWEI, FeeCapExceeded, FeeCaps, Fees, bump_fees, quote_fees
from dalrn_core.chain.rpc import (
    RetryPolicy,
    TransientRPCError,
    pooled_session,
    rpc_web3,
    transient_rpc_error,
)


@pytest.mark.parametrize("error,transient", [
    ({"code": -32000, "message": "header not found"}, True),
    ({"code": -32005, "message": "limit exceeded"}, True),
    ({"code": -32603, "message": "request timed out"}, True),
    ({"code": 429, "message": "Too Many Requests"}, True),
    ({"code": -32000, "message": "nonce too low"}, False),
    ({"code": -32000, "message": "insufficient funds for gas * price + value"}, False),
    ({"code": 3, "message": "execution reverted: timeout"}, False),
    (None, False),
])
def test_transient_classification(error, transient):
    assert transient_rpc_error(error) is transient


def test_full_jitter_backoff_is_bounded():
    policy, rng = RetryPolicy(attempts=8, base_delay_s=0.1, max_delay_s=1.0), random.Random(1)
    for attempt in range(8):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= min(1.0, 0.1 * 2**attempt)


def test_one_session_per_chain():
    assert pooled_session("chain-a") is pooled_session("chain-a")
    assert pooled_session("chain-a") is not pooled_session("chain-b")


def test_unreachable_node_fails_after_its_retries():
    w3 = rpc_web3(f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(attempts=3, base_delay_s=0.01))
    with pytest.raises(TransientRPCError, match="eth_chainId failed 3 times"):
        _ = w3.eth.chain_id
    assert w3.provider.retries == 3


def test_fee_quote_within_caps(tmp_path):
    # eth-tester's fee history is empty at genesis: the quote falls back to the latest base fee.
    account = Account.create()
    w3 = EmbeddedChain(tmp_path / "j.jsonl", [account.address], chain_id=7).w3
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    caps = FeeCaps.from_gwei(max_fee=100, max_tip=2, min_tip=0.5)
    fees = quote_fees(w3, caps)
    assert caps.min_tip_wei <= fees.tip_wei <= caps.max_tip_wei
    assert fees.max_fee_wei == min(2 * base + fees.tip_wei, caps.max_fee_wei)
    tight = FeeCaps(max_fee_wei=base + caps.min_tip_wei + 1, max_tip_wei=caps.max_tip_wei, min_tip_wei=caps.min_tip_wei)
    assert quote_fees(w3, tight).max_fee_wei == tight.max_fee_wei  # lowered to the cap
    with pytest.raises(FeeCapExceeded, match="exceeds the cap"):
        quote_fees(w3, FeeCaps(max_fee_wei=base // 2, max_tip_wei=GWEI, min_tip_wei=1))


def test_replacement_bump_is_over_ten_percent_and_capped():
    caps = FeeCaps.from_gwei(max_fee=50, max_tip=5)
    old = Fees(max_fee_wei=20 * GWEI, tip_wei=GWEI)
    new = bump_fees(old, caps)
    assert new.max_fee_wei * 10 >= old.max_fee_wei * 11 and new.tip_wei * 10 >= old.tip_wei * 11
    assert bump_fees(old, caps, fresh=Fees(40 * GWEI, 3 * GWEI)) == Fees(40 * GWEI, 3 * GWEI)
    with pytest.raises(FeeCapExceeded):
        bump_fees(Fees(48 * GWEI, GWEI), caps)
