"""The hard time limit: the search runs in a child process that is killed at the limit,
and a timed-out run keeps the cheap methods' equilibria and says so; small games, whose
search is bounded, run in the calling process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dalrn_core.negotiation.negotiate import negotiate
from dalrn_core.negotiation.phases import Limits
from dalrn_core.negotiation.time_limit import enumerate_equilibria
from tests.negotiation.oracle import extreme_equilibria, is_nash

CHILD_ALWAYS = Limits(in_process_strategies=0)  # every game searched in a child process
_STARTED: list[str] | None = None  # process starts seen while a test records them


def _record_process_starts(event: str, args: tuple) -> None:
    if _STARTED is not None and event in ("os.fork", "os.posix_spawn", "subprocess.Popen"):
        _STARTED.append(event)


sys.addaudithook(_record_process_starts)  # audit hooks stay for the session; idle when None


def _process_starts(run) -> list[str]:
    global _STARTED
    _STARTED = []
    try:
        run()
        return _STARTED
    finally:
        _STARTED = None


@pytest.mark.parametrize("size", [4, 7])
def test_child_process_matches_in_process(size):
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 5, (size, size)), rng.integers(0, 5, (size, size))
    inside = negotiate(a.tolist(), b.tolist(), time_limit_s=30.0).to_json()
    child = negotiate(a.tolist(), b.tolist(), time_limit_s=30.0, limits=CHILD_ALWAYS).to_json()
    assert inside["complete"] and child["complete"]
    for key in ("equilibria", "selected", "outcome", "timed_out", "method"):
        assert inside[key] == child[key]


def test_only_a_game_the_limit_can_stop_pays_for_a_child_process(monkeypatch):
    monkeypatch.delenv("DALRN_SOLVER_START_METHOD", raising=False)  # fork: seen as os.fork
    rng = np.random.default_rng(5)
    small = rng.integers(0, 9, (7, 7)).tolist(), rng.integers(0, 9, (7, 7)).tolist()
    large = rng.integers(0, 9, (8, 8)).tolist(), rng.integers(0, 9, (8, 8)).tolist()
    tiny = rng.integers(0, 5, (4, 3)).tolist(), rng.integers(0, 5, (4, 3)).tolist()
    found = {}
    assert _process_starts(lambda: found.update(small=negotiate(*small, time_limit_s=5.0))) == []
    assert found["small"].complete and not found["small"].timed_out
    assert _process_starts(lambda: found.update(tiny=negotiate(*tiny, time_limit_s=5.0))) == []
    # (the oracle's determinants by Laplace expansion are too slow for 7x7)
    assert extreme_equilibria(*tiny) == {
        (e.row_strategy_exact, e.col_strategy_exact) for e in found["tiny"].equilibria
    }
    assert _process_starts(lambda: negotiate(*large, time_limit_s=5.0)) == ["os.fork"]
    # A limit shorter than the slowest small search is enforced by a child process.
    assert _process_starts(lambda: negotiate(*small, time_limit_s=0.5)) == ["os.fork"]


def test_timeout_keeps_cheap_equilibria_and_says_so():
    # A 20x20 game: vertex enumeration of its polytopes takes far longer than 1 s, while
    # pure equilibria and Lemke-Howson finish in a fraction of it.
    rng = np.random.default_rng(11)
    a, b = rng.integers(0, 100, (20, 20)), rng.integers(0, 100, (20, 20))
    result = negotiate(a.tolist(), b.tolist(), time_limit_s=1.5)
    assert result.timed_out and not result.complete
    assert result.equilibria, "Lemke-Howson runs first, so something is always found"
    assert "pure" in result.method
    assert any("time limit 1.5 s" in note and "may be incomplete" in note for note in result.notes)
    for e in result.equilibria:
        assert is_nash(a.tolist(), b.tolist(), e.row_strategy_exact, e.col_strategy_exact)
    assert result.to_json()["timed_out"] is True


def test_size_gates_skip_expensive_phases():
    rng = np.random.default_rng(3)
    a, b = rng.random((5, 5)), rng.random((5, 5))
    found = enumerate_equilibria(
        a, b, time_limit_s=None, limits=Limits(exact_bases=10, support_pairs=10)
    )
    status = {p.name: p.status for p in found.phases}
    assert status["support_enumeration"] == "skipped" and status["vertex_enumeration"] == "done"
    assert found.complete


@pytest.mark.slow
def test_spawn_start_method(monkeypatch):
    monkeypatch.setenv("DALRN_SOLVER_START_METHOD", "spawn")
    result = negotiate([[3, 0], [0, 2]], [[2, 0], [0, 3]], time_limit_s=60.0)
    assert not result.timed_out
    found = {(e.row_strategy_exact, e.col_strategy_exact) for e in result.equilibria}
    assert found == extreme_equilibria([[3, 0], [0, 2]], [[2, 0], [0, 3]])


def test_concurrent_negotiations_from_worker_threads():
    # Prefect runs tasks in worker threads: each negotiation forks its own solver process.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    games = [
        (rng.integers(0, 9, (4, 4)).tolist(), rng.integers(0, 9, (4, 4)).tolist()) for _ in range(4)
    ]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(
            pool.map(lambda g: negotiate(*g, time_limit_s=30.0, limits=CHILD_ALWAYS), games)
        )
    for game, result in zip(games, threaded):
        inline = negotiate(*game, time_limit_s=None)
        assert result.to_json()["equilibria"] == inline.to_json()["equilibria"]
        assert not result.timed_out
