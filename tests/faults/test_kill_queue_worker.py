"""Kill -9 `dalrn worker` at random points while disputes stream in through the gateway and
the Redis Stream, on Prefect's server on PostgreSQL; a new worker starts each time and
recovers on its own (XAUTOCLAIM of the dead worker's entry, takeover of its Running flow
run). Afterwards every accepted dispute is anchored, exactly once: one Completed flow run,
one intake ... anchor receipt sequence, its leaf under exactly one anchored root, no root
twice, no extra transaction, nothing pending, and `dalrn receipts verify` passes for each.

5 kills in the default suite, 50 in the slow one (`benchmarks.kill_queue.queue_kill_run`,
which `make chaos` runs too).
"""

from __future__ import annotations

import pytest

from benchmarks.kill_queue import TENANT, kill_stack, queue_kill_run

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_server, redis_server):
    with kill_stack(tmp_path_factory.mktemp("kill-queue"), redis_server.url, postgres_server) as running:
        yield running


@pytest.mark.parametrize(("kills", "disputes"), [pytest.param(5, 3, marks=pytest.mark.timeout(600)),
                                                 pytest.param(50, 20, marks=[pytest.mark.slow,
                                                                             pytest.mark.timeout(2400)])])
def test_killed_queue_workers_lose_nothing_and_double_nothing(stack, redis_server, kills, disputes):
    row = queue_kill_run(stack, stack.http, TENANT, redis_server.url, disputes=disputes, kills=kills, seed=kills)
    assert row["kills"] == kills, row["killed_at"]
    assert row["disputes"] >= disputes  # more arrive when the worker ran dry before a kill
    assert set(row["statuses"].values()) == {"anchored"}, row["not_anchored"]
    assert row["one_completed_flow_run"] == row["disputes"]
    assert row["resolved"] == row["one_intake_to_anchor_sequence"] == row["disputes"]
    assert row["anchored"] == row["disputes"] and row["leaves_under_two_roots"] == 0
    assert row["verified"] == row["disputes"], row["failures"]
    assert row["lost"] == 0 and row["doubled_anchors"] == 0 and row["extra_transactions"] == 0
    assert row["pending_left"] == 0, (row["pending_entries"], row["killed_at"])
    assert row["worker_alive"]
