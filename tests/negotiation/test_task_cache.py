"""The negotiate task's cache: its key names the negotiation code, and a search cut short by
the time limit is never served from the cache."""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prefect import flow
from prefect.cache_policies import CachePolicy

import dalrn_core.negotiation
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.dispute.stages import Intake
from tasks.negotiate import (
    NEGOTIATION_CACHE,
    NEGOTIATION_CODE,
    SOLVER_LIBRARIES,
    negotiate_settlement,
    negotiation_cache,
    source_digest,
)

EXAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "supply-contract.json").read_text())
PACKAGE = Path(dalrn_core.negotiation.__file__).parent


def _intake(row: list[list[int]], col: list[list[int]]) -> Intake:
    data = copy.deepcopy(EXAMPLE)
    data["id"] = f"cache-{uuid.uuid4().hex[:12]}"  # a key no other test has written
    data["game"].update(
        row_payoffs=row, col_payoffs=col,
        row_strategies=[f"r{i}" for i in range(len(row))],
        col_strategies=[f"c{j}" for j in range(len(row[0]))],
    )
    dispute = parse_dispute(data)
    return Intake(dispute=dispute, submitted_digest="sha256-test", dispute_cid=f"bafy-{dispute.id}",
                  evidence_cids={e.id: f"bafy-{e.id}" for e in dispute.evidence})


def _key(policy: CachePolicy, intake: Intake) -> str | None:
    context = SimpleNamespace(task=negotiate_settlement)  # what TASK_SOURCE reads of a run
    inputs = {"intake": intake, "rule": "nsw", "time_limit_s": 5.0}
    return policy.compute_key(task_ctx=context, inputs=inputs, flow_parameters={})  # type: ignore[arg-type]


def test_digest_follows_the_package_source_not_its_location(tmp_path):
    copy_dir = tmp_path / "negotiation"
    shutil.copytree(PACKAGE, copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copy_dir, SOLVER_LIBRARIES) == NEGOTIATION_CODE
    selection = copy_dir / "selection.py"
    selection.write_text(selection.read_text() + "\n# a changed rule\n")
    assert source_digest(copy_dir, SOLVER_LIBRARIES) != NEGOTIATION_CODE
    assert source_digest(PACKAGE, ()) != NEGOTIATION_CODE  # the solver libraries count too


def test_cache_key_changes_with_the_negotiation_code():
    intake = _intake([[6, 1], [4, 2]], [[5, 1], [2, 3]])
    now = _key(NEGOTIATION_CACHE, intake)
    assert now is not None and now == _key(NEGOTIATION_CACHE, intake)  # stable for one code
    assert _key(negotiation_cache(NEGOTIATION_CODE), intake) == now
    assert _key(negotiation_cache("0" * 64), intake) != now
    other_game = _intake([[6, 1], [4, 3]], [[5, 1], [2, 3]])
    assert _key(NEGOTIATION_CACHE, other_game) != now


@flow
def _negotiate_twice(intake: Intake, time_limit_s: float) -> list[str]:
    states = [negotiate_settlement(intake, "nsw", time_limit_s, return_state=True) for _ in range(2)]
    return [s.name for s in states] + [str(s.result().result.search.timed_out) for s in states]


@pytest.mark.usefixtures("harness")
def test_timed_out_search_is_not_reused_but_a_complete_one_is():
    # A 20x20 game: vertex enumeration needs far longer than 0.5 s (test_time_limit), so the
    # search is cut short every time; it must run again, not come back from the cache.
    rng = np.random.default_rng(11)
    big = _intake(rng.integers(0, 100, (20, 20)).tolist(), rng.integers(0, 100, (20, 20)).tolist())
    assert _negotiate_twice(big, 0.5) == ["Completed", "Completed", "True", "True"]
    # The control: a complete search is cached, so the check above is not vacuous.
    small = _intake([[6, 1], [4, 2]], [[5, 1], [2, 3]])
    assert _negotiate_twice(small, 5.0) == ["Completed", "Cached", "False", "False"]
