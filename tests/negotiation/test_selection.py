"""Selection rules, BATNA admissibility, tie-breaks and the bargaining fallback."""

from __future__ import annotations

import json
from fractions import Fraction as F

import numpy as np
import pytest

from dalrn_core.negotiation.bargaining import (
    BargainingPoint,
    nash_bargaining_2,
    nash_bargaining_joint,
)
from dalrn_core.negotiation.negotiate import negotiate, negotiate_payload

# Diagonal coordination game: pure equilibria with payoffs (10, 1), (4, 4), (6, 3), where
# each rule picks a different one (mixed equilibria pay less than every pure one).
A = [[10, 0, 0], [0, 4, 0], [0, 0, 6]]
B = [[1, 0, 0], [0, 4, 0], [0, 0, 3]]


@pytest.mark.parametrize(
    ("rule", "payoffs"),
    [
        ("nsw", (6, 3)),  # products 10, 16, 18
        ("egalitarian", (4, 4)),  # minima 1, 4, 3
        ("utilitarian", (10, 1)),  # sums 11, 8, 9
        ("kalai_smorodinsky", (6, 3)),  # ideal (10, 4): min ratios .25, .4, .6
    ],
)
def test_each_rule_picks_its_equilibrium(rule, payoffs):
    result = negotiate(A, B, rule=rule, batna=[0, 0], time_limit_s=None)
    assert result.outcome == "equilibrium"
    assert result.selected.payoffs_exact == payoffs
    winner = result.scores[0]
    assert winner.rank == 0 and winner.lost_because == ""
    assert all(s.lost_because for s in result.scores[1:] if s.admissible)


def test_batna_filters_equilibria():
    # Row needs at least 5: only (10, 1) and (6, 3) remain; egalitarian gains (5, 1) vs (1, 3)
    # tie on the minimum 1, so the utilitarian tie-break picks (10, 1).
    result = negotiate(A, B, rule="egalitarian", batna=[5, 0], time_limit_s=None)
    assert result.selected.payoffs_exact == (10, 1)
    rejected = [s for s in result.scores if not s.admissible]
    assert rejected and all("row payoff" in s.reason for s in rejected)
    runner_up = [s for s in result.scores if s.admissible][1]
    assert runner_up.lost_because.startswith("tied on egalitarian; utilitarian")


def test_ties_break_to_canonical_order():
    # Battle of the sexes: (3, 2) and (2, 3) tie on every welfare number; pure before mixed,
    # then the earlier strategy pair wins.
    for rule in ("nsw", "egalitarian", "utilitarian", "kalai_smorodinsky"):
        result = negotiate(
            [[3, 0], [0, 2]], [[2, 0], [0, 3]], rule=rule, batna=[0, 0], time_limit_s=None
        )
        assert result.selected.payoffs_exact == (3, 2)
        assert (
            result.scores[1].lost_because == "tied on every welfare number; lost on canonical order"
        )


def test_default_batna_is_each_minimum_payoff():
    result = negotiate([[3, 0], [5, 1]], [[3, 5], [0, 1]], time_limit_s=None)
    assert result.batna == (0.0, 0.0)
    assert result.to_json()["batna"] == [0.0, 0.0]


def test_fallback_bargaining_is_exact_lottery():
    # The only equilibria pay row 0 or nothing; BATNA (1, 1) rules them out. Lotteries of
    # (4, 0) and (0, 4) reach (2, 2): the Nash bargaining solution, 1/2 each.
    a = [[4, 0], [0, 0]]
    b = [[0, 4], [0, 0]]
    result = negotiate(a, b, batna=[1, 1], time_limit_s=None)
    assert result.outcome == "bargaining"
    point = result.selected
    assert isinstance(point, BargainingPoint)
    assert point.payoffs_exact == (2, 2)
    assert {(i.row, i.col, i.probability_exact) for i in point.lottery} == {
        (0, 0, F(1, 2)),
        (0, 1, F(1, 2)),
    }
    out = result.to_json()
    assert out["selected"]["payoffs"] == [2.0, 2.0] and out["outcome"] == "bargaining"
    assert any("fallback" in note for note in result.notes)


def test_no_agreement_is_a_result_not_an_error():
    result = negotiate([[3, 0], [5, 1]], [[3, 5], [0, 1]], batna=[5, 5], time_limit_s=None)
    assert result.outcome == "no_agreement" and result.selected is None
    assert result.to_json()["selected"] is None
    assert any("no agreement" in note for note in result.notes)


def test_bargaining_on_segment_interior():
    # Outcomes (0, 3) and (3, 0), BATNA (0, 0): NBS (3/2, 3/2) on the segment between them.
    point = nash_bargaining_2([[F(0), F(3)]], [[F(3), F(0)]], (F(0), F(0)))
    assert point.payoffs_exact == (F(3, 2), F(3, 2)) and point.nsw == 2.25
    # Asymmetric: (0, 4) and (2, 0): maximise (2t)(4 - 4t) at t = 1/2 -> (1, 2).
    point = nash_bargaining_2([[F(0), F(2)]], [[F(4), F(0)]], (F(0), F(0)))
    assert point.payoffs_exact == (1, 2)


@pytest.mark.parametrize("seed", range(5))
def test_two_party_joint_bargaining_agrees_with_exact(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 10, (3, 3)), rng.integers(0, 10, (3, 3))
    d = (3, 3)
    exact = nash_bargaining_2(
        [[F(int(v)) for v in r] for r in a], [[F(int(v)) for v in r] for r in b], (F(3), F(3))
    )
    outcomes = [{"row": float(a[i, j]), "col": float(b[i, j])} for i in range(3) for j in range(3)]
    joint = nash_bargaining_joint(outcomes, {"row": d[0], "col": d[1]})
    if exact is None:
        assert joint.outcome == "no_agreement"
    else:
        assert joint.outcome == "bargaining"
        assert joint.payoffs["row"] == pytest.approx(exact.payoffs[0], abs=1e-5)
        assert joint.payoffs["col"] == pytest.approx(exact.payoffs[1], abs=1e-5)
        assert joint.optimality_gap < 1e-6


def test_three_party_joint_bargaining_symmetric():
    parties = ("ann", "bob", "cy")
    outcomes = [{p: float(p == q) * 3 for p in parties} for q in parties] + [
        {p: 0.5 for p in parties}
    ]
    joint = nash_bargaining_joint(outcomes, {p: 0.0 for p in parties})
    assert joint.outcome == "bargaining"
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in joint.payoffs.values())
    assert sum(p for _, p in joint.lottery) == pytest.approx(1.0)
    assert joint.optimality_gap < 1e-6
    json.dumps(joint.to_json())


def test_three_party_no_agreement():
    outcomes = [{"a": 5, "b": 5, "c": 0}, {"a": 5, "b": 0, "c": 0}]
    joint = nash_bargaining_joint(outcomes, {"a": 1, "b": 1, "c": 1})
    assert joint.outcome == "no_agreement" and joint.payoffs is None
    assert "c" in joint.explanation
    # Everyone can gain on some outcome but never all at once (needs the LP, not a scan).
    outcomes = [{"a": 2, "b": 0, "c": 0}, {"a": 0, "b": 2, "c": 0}, {"a": 0, "b": 0, "c": 2}]
    joint = nash_bargaining_joint(outcomes, {"a": 1, "b": 1, "c": 1})
    assert joint.outcome == "no_agreement"


def test_cli_contract_keys_and_floats():
    out = negotiate_payload(
        {"row_payoffs": [[3, 0], [0, 2]], "col_payoffs": [[2, 0], [0, 3]]}
    ).to_json()
    text = json.dumps(out)  # serialisable
    assert {"equilibria", "selected", "rule", "outcome", "timed_out"} <= set(out)
    assert out["rule"] == "nsw" and out["timed_out"] is False
    for e in out["equilibria"]:
        assert {"row_strategy", "col_strategy", "payoffs"} <= set(e)
        assert all(
            isinstance(v, float) for v in e["row_strategy"] + e["col_strategy"] + e["payoffs"]
        )
    assert "NaN" not in text and "Infinity" not in text
    # the battle of the sexes: pure (3, 2) and (2, 3), mixed (6/5, 6/5) by the indifference conditions
    payoffs = sorted(tuple(round(v, 12) for v in e["payoffs"]) for e in out["equilibria"])
    assert payoffs == [(1.2, 1.2), (2.0, 3.0), (3.0, 2.0)]


@pytest.mark.parametrize(
    ("outcomes", "batna", "field"),
    [
        ([], {"a": 0}, "outcomes"),
        ([{"a": 1}], {}, "batna"),
        ([{"a": 1, "b": 2}], {"a": 0}, "outcomes[0]"),
        ([{"a": float("nan")}], {"a": 0}, "outcomes[0].a"),
        ([{"a": 1}], {"a": "x"}, "batna.a"),
        ([3], {"a": 0}, "outcomes[0]"),
    ],
)
def test_joint_bargaining_input_errors(outcomes, batna, field):
    from dalrn_core.errors import InputError

    with pytest.raises(InputError) as excinfo:
        nash_bargaining_joint(outcomes, batna)
    assert field in [p.field for p in excinfo.value.problems]
