"""Kill -9 the process that runs dispute flows, at random points, while a stream of disputes
runs; start it again each time (`tests/faults/flow_worker.py`: each accepted dispute with
no finished run is run again, as a reconcile pass does for an accepted dispute with no
live run). Afterwards every accepted dispute is resolved exactly once: its receipt chain
holds one intake ... anchor sequence, its leaf is under exactly one root anchored on the
chain (the contract's RootAnchored events and each batch's manifest), no root twice, no
extra transaction, nothing left pending, and `dalrn receipts verify` passes for each.

5 kills in the default suite, 50 in the slow one (`benchmarks.chaos.kill_run`, which
`make chaos` runs too).
"""

from __future__ import annotations

import pytest

from benchmarks.chaos import kill_run


@pytest.fixture()
def index_home(home, harness):
    """The test's data folder with a small precedent index of its own."""
    from dalrn_core.search.build import build_precedent_index

    build_precedent_index(limit=30)
    return home


@pytest.mark.parametrize(("kills", "disputes"), [(5, 3), pytest.param(50, 20, marks=pytest.mark.slow)])
def test_killed_dispute_workers_lose_nothing_and_double_nothing(index_home, kills, disputes):
    row = kill_run(index_home / "stream", disputes, kills, seed=kills)
    assert row["worker_exit"] == 0, row["worker_tail"]
    assert row["kills"] == kills, row["killed_after"]
    assert row["disputes"] >= disputes  # more arrive when the worker ran dry before a kill
    assert row["resolved"] == row["one_intake_to_anchor_sequence"] == row["disputes"]
    assert row["anchored"] == row["disputes"] and row["leaves_under_two_roots"] == 0
    assert row["verified"] == row["disputes"], row["failures"]
    assert row["lost"] == 0 and row["doubled_anchors"] == 0 and row["extra_transactions"] == 0
    assert row["pending_left"] == 0
