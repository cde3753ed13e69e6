"""An RPC outage (a compressed `make chaos`): disputes resolve as `anchor_pending` while
every request to the Hardhat node fails, and once it ends each is anchored exactly once —
no dispute lost, no root anchored twice, no reverted or extra transaction, each dispute's
leaf under one root, every dispute verifies."""

from __future__ import annotations

import pytest

from benchmarks.chaos import outage_run
from benchmarks.hardhat_node import hardhat_missing

pytestmark = pytest.mark.skipif(hardhat_missing() is not None, reason=str(hardhat_missing()))


def test_disputes_resolve_through_an_outage_and_are_anchored_once_after_it(home):
    row = outage_run(outage_s=6, dispute_every_s=1.2)
    assert row["resolved_during_outage"] >= 4
    assert row["pending_during_outage"] == row["resolved_during_outage"]  # resolved, anchor pending
    assert row["rpc_failures"] > 0 and row["pending_left"] == 0
    assert row["anchored"] == row["verified"] == row["disputes"] and row["lost"] == 0
    assert row["doubled_anchors"] == 0 and row["leaves_under_two_roots"] == 0
    assert row["extra_transactions"] == 0
