"""Cross-checks against independent solvers: the Cramer's-rule oracle and nashpy."""

from __future__ import annotations

from fractions import Fraction as F

import nashpy
import numpy as np
import pytest

from dalrn_core.negotiation.algorithms.lemke_howson import PivotLimit, lemke_howson_exact
from dalrn_core.negotiation.rational import exact_game
from dalrn_core.negotiation.time_limit import enumerate_equilibria
from tests.negotiation.oracle import extreme_equilibria, is_nash


def _extreme(result):
    return {(e.row_strategy_exact, e.col_strategy_exact) for e in result.equilibria if e.extreme}


@pytest.mark.parametrize("seed", range(12))
def test_matches_oracle_on_degenerate_integer_games(seed):
    # Payoffs from {0, 1, 2}: ties everywhere, so most of these games are degenerate.
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    a = rng.integers(0, 3, (m, n))
    b = rng.integers(0, 3, (m, n))
    found = enumerate_equilibria(a.astype(float), b.astype(float), time_limit_s=None)
    assert found.complete and found.exact
    assert _extreme(found) == extreme_equilibria(a.tolist(), b.tolist())
    for e in found.equilibria:
        assert is_nash(a.tolist(), b.tolist(), e.row_strategy_exact, e.col_strategy_exact)


@pytest.mark.parametrize("seed", range(6))
def test_matches_oracle_on_4x4_games(seed):
    rng = np.random.default_rng(100 + seed)
    a = rng.integers(-5, 6, (4, 4))
    b = rng.integers(-5, 6, (4, 4))
    found = enumerate_equilibria(a.astype(float), b.astype(float), time_limit_s=None)
    assert _extreme(found) == extreme_equilibria(a.tolist(), b.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_nondegenerate_float_games_agree_with_nashpy(seed):
    # Continuous random payoffs are non-degenerate with probability one: nashpy's support
    # and vertex enumeration are then complete and must agree with ours.
    rng = np.random.default_rng(200 + seed)
    a, b = rng.random((4, 3)), rng.random((4, 3))
    game = nashpy.Game(a, b)
    theirs = sorted(
        (tuple(np.round(x, 8)), tuple(np.round(y, 8))) for x, y in game.vertex_enumeration()
    )
    support = sorted(
        (tuple(np.round(x, 8)), tuple(np.round(y, 8))) for x, y in game.support_enumeration()
    )
    found = enumerate_equilibria(a, b, time_limit_s=None)
    ours = sorted(
        (tuple(np.round(e.row_strategy, 8)), tuple(np.round(e.col_strategy, 8)))
        for e in found.equilibria
    )
    assert ours == theirs == support


@pytest.mark.parametrize("seed", range(8))
def test_lemke_howson_every_label_reaches_an_exact_equilibrium(seed):
    rng = np.random.default_rng(300 + seed)
    m, n = (4, 3) if seed < 3 else (6, 5)
    a, b = rng.integers(0, 4, (m, n)), rng.integers(0, 4, (m, n))
    game = exact_game(a.astype(float), b.astype(float))
    oracle = extreme_equilibria(a.tolist(), b.tolist()) if seed < 3 else None
    for label in range(m + n):
        x, y = lemke_howson_exact(game.a_pos, game.b_pos, label)
        assert is_nash(a.tolist(), b.tolist(), x, y)
        if oracle is not None:
            assert (tuple(x), tuple(y)) in oracle  # Lemke-Howson ends at a vertex pair


def test_lemke_howson_budget_and_label_range():
    game = exact_game(np.array([[3.0, 0], [0, 2]]), np.array([[2.0, 0], [0, 3]]))
    with pytest.raises(ValueError):
        lemke_howson_exact(game.a_pos, game.b_pos, 4)
    with pytest.raises(PivotLimit):
        lemke_howson_exact(game.a_pos, game.b_pos, 0, max_pivots=0)


def test_verifier_rejects_non_equilibria():
    from dalrn_core.negotiation.equilibrium import Verifier

    a = np.array([[3.0, 0], [5, 1]])
    b = a.T.copy()
    v = Verifier(a, b, exact_game(a, b))
    assert v.clean(np.array([1.0, 0]), np.array([1.0, 0]), "test") is None  # mutual cooperation
    good = v.clean(np.array([1e-12, 1.0]), np.array([0.0, 1.0 + 1e-13]), "test")
    assert good is not None and good.row_strategy_exact == (F(0), F(1))  # noise cleaned exactly


def test_exact_solver_unique_singular_inconsistent():
    from dalrn_core.negotiation.rational import solve_unique

    # 2x + y = 1, x - y = 1/2 (a Fraction row), and a consistent third equation.
    rows = [[2, 1], [1, -1], [3, 0]]
    assert solve_unique(rows, [1, F(1, 2), F(3, 2)], 2) == [F(1, 2), F(0)]
    assert solve_unique(rows, [1, F(1, 2), 2], 2) is None  # inconsistent third equation
    assert solve_unique([[1, 1], [2, 2]], [1, 2], 2) is None  # rank 1: not a unique point
    big = 10**200
    assert solve_unique([[big, 1], [1, 0]], [big + 1, 1], 2) == [1, 1]
