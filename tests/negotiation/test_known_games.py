"""Games with published equilibria: every equilibrium, exactly, and nothing else."""

from __future__ import annotations

import json
from fractions import Fraction as F

import nashpy
import numpy as np
import pytest

from dalrn_core.negotiation.negotiate import negotiate
from tests.negotiation.oracle import extreme_equilibria


def _set(result):
    return {(e.row_strategy_exact, e.col_strategy_exact) for e in result.equilibria}


def _rounded(profiles):
    return {(tuple(round(float(v), 9) for v in x), tuple(round(float(v), 9) for v in y)) for x, y in profiles}


def _float_set(result):
    return _rounded((e.row_strategy, e.col_strategy) for e in result.equilibria)


def _prof(x, y):
    return (tuple(F(v) for v in x), tuple(F(v) for v in y))


def test_prisoners_dilemma_unique_defection():
    # Row/column payoffs (cooperate, defect); the only equilibrium is (defect, defect).
    result = negotiate([[3, 0], [5, 1]], [[3, 5], [0, 1]], time_limit_s=None)
    assert _set(result) == {_prof([0, 1], [0, 1])}
    assert result.equilibria[0].payoffs_exact == (1, 1)
    assert result.complete and result.exact and not result.timed_out


def test_battle_of_the_sexes_two_pure_one_mixed():
    # Osborne and Rubinstein 1994, ex. 15.3: mixed equilibrium x = (3/5, 2/5), y = (2/5, 3/5).
    result = negotiate([[3, 0], [0, 2]], [[2, 0], [0, 3]], time_limit_s=None)
    assert _set(result) == {
        _prof([1, 0], [1, 0]),
        _prof([0, 1], [0, 1]),
        _prof([F(3, 5), F(2, 5)], [F(2, 5), F(3, 5)]),
    }
    mixed = next(e for e in result.equilibria if not e.pure)
    assert mixed.payoffs_exact == (F(6, 5), F(6, 5))


def test_matching_pennies_unique_uniform():
    result = negotiate([[1, -1], [-1, 1]], [[-1, 1], [1, -1]], time_limit_s=None)
    assert _set(result) == {_prof([F(1, 2)] * 2, [F(1, 2)] * 2)}
    assert result.equilibria[0].payoffs == (0.0, 0.0)


def test_rock_paper_scissors_unique_uniform():
    a = [[0, -1, 1], [1, 0, -1], [-1, 1, 0]]
    result = negotiate(a, [[-v for v in row] for row in a], time_limit_s=None)
    assert _set(result) == {_prof([F(1, 3)] * 3, [F(1, 3)] * 3)}


def test_coordination_game():
    result = negotiate([[2, 0], [0, 1]], [[2, 0], [0, 1]], time_limit_s=None)
    assert _set(result) == {
        _prof([1, 0], [1, 0]),
        _prof([0, 1], [0, 1]),
        _prof([F(1, 3), F(2, 3)], [F(1, 3), F(2, 3)]),
    }


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # nashpy warns: game is degenerate
def test_von_stengel_degenerate_game_finds_what_support_enumeration_misses():
    # von Stengel 2007 (Algorithmic Game Theory, ch. 3, Fig. 3.6): row 1 has two best
    # responses, so the equilibria form a segment with extreme points (1,0,0) x (1,0) and
    # (1,0,0) x (2/3,1/3), plus ((0,1/3,2/3), (1/3,2/3)).
    a = [[3, 3], [2, 5], [0, 6]]
    b = [[3, 3], [2, 6], [3, 1]]
    expected = {
        _prof([1, 0, 0], [1, 0]),
        _prof([1, 0, 0], [F(2, 3), F(1, 3)]),
        _prof([0, F(1, 3), F(2, 3)], [F(1, 3), F(2, 3)]),
    }
    result = negotiate(a, b, time_limit_s=None)
    assert _set(result) == expected
    assert all(e.extreme for e in result.equilibria)
    # nashpy's support enumeration alone misses the second extreme point.
    support = {
        _prof([F(v).limit_denominator(100) for v in x], [F(v).limit_denominator(100) for v in y])
        for x, y in nashpy.Game(np.array(a), np.array(b)).support_enumeration()  # warns: degenerate
    }
    assert len(support) == 2 and support < expected
    missed = [e for e in result.equilibria if "support_enumeration" not in e.found_by]
    assert [(_prof(e.row_strategy_exact, e.col_strategy_exact)) for e in missed] == [
        _prof([1, 0, 0], [F(2, 3), F(1, 3)])
    ]


def test_von_stengel_nondegenerate_example():
    # von Stengel 2007, Fig. 3.1 (3x2): three equilibria.
    a = [[3, 3], [2, 5], [0, 6]]
    b = [[3, 2], [2, 6], [3, 1]]
    result = negotiate(a, b, time_limit_s=None)
    assert _set(result) == {
        _prof([1, 0, 0], [1, 0]),
        _prof([F(4, 5), F(1, 5), 0], [F(2, 3), F(1, 3)]),
        _prof([0, F(1, 3), F(2, 3)], [F(1, 3), F(2, 3)]),
    }


def test_all_equal_payoffs_every_pure_profile_is_extreme():
    result = negotiate([[7, 7, 7], [7, 7, 7]], [[7, 7, 7], [7, 7, 7]], time_limit_s=None)
    pure = {(i, j) for i in range(2) for j in range(3)}
    got = {(e.row_strategy.index(1.0), e.col_strategy.index(1.0)) for e in result.equilibria}
    assert got == pure and all(e.pure for e in result.equilibria)


def test_one_by_one_and_one_by_n():
    one = negotiate([[4]], [[-2]], time_limit_s=None)
    assert _set(one) == {_prof([1], [1])} and one.outcome == "equilibrium"
    row = negotiate([[1, 2, 3]], [[5, 1, 5]], time_limit_s=None)
    # The column player's two best responses; mixtures of them are equilibria but not extreme.
    assert _set(row) == {_prof([1], [1, 0, 0]), _prof([1], [0, 0, 1])}


@pytest.mark.parametrize("scale", [1e-300, 1e-12, 1e12, 1e300])
def test_magnitudes_do_not_change_equilibria(scale):
    a = [[3 * scale, 0], [0, 2 * scale]]
    b = [[2 * scale, 0], [0, 3 * scale]]
    result = negotiate(a, b, time_limit_s=None)
    mixed = [e for e in result.equilibria if not e.pure]
    # scaling changes no equilibrium: the same strategies as the unscaled game's oracle
    assert _float_set(result) == _rounded(extreme_equilibria([[3, 0], [0, 2]], [[2, 0], [0, 3]]))
    assert mixed[0].row_strategy == pytest.approx((0.6, 0.4), abs=1e-12)
    assert mixed[0].col_strategy == pytest.approx((0.4, 0.6), abs=1e-12)
    assert mixed[0].payoffs == pytest.approx((1.2 * scale, 1.2 * scale), rel=1e-12)
    json.dumps(result.to_json(), allow_nan=False)


def test_mixed_magnitudes_tiny_beside_one_stay_exact():
    # 1e-300 next to 1: the indifference probability is 1e-300 exactly, not rounded to 0.
    result = negotiate([[1e-300, 0], [0, 1]], [[1, 0], [0, 1e-300]], time_limit_s=None)
    assert result.exact
    mixed = [e for e in result.equilibria if not e.pure]
    assert len(mixed) == 1
    x = mixed[0].row_strategy_exact
    assert x[0] == F(1, 10**300 + 1)


def test_decimal_payoffs_read_as_written():
    result = negotiate([[0.1, 0], [0, 0.2]], [[0.2, 0], [0, 0.1]], time_limit_s=None)
    mixed = next(e for e in result.equilibria if not e.pure)
    assert mixed.row_strategy_exact == (F(1, 3), F(2, 3))
    assert mixed.payoffs_exact == (F(1, 15), F(1, 15))
