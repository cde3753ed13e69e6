"""Property tests (hypothesis): every returned profile is a Nash equilibrium, and the
selected one obeys its rule, on arbitrary small games."""

from __future__ import annotations

import json
from fractions import Fraction as F

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalrn_core.negotiation.negotiate import negotiate
from dalrn_core.negotiation.validation import RULES
from tests.negotiation.oracle import is_nash


@st.composite
def games(draw, low=-4, high=4, max_size=4):
    m = draw(st.integers(1, max_size))
    n = draw(st.integers(1, max_size))
    entries = st.integers(low, high)
    a = [[draw(entries) for _ in range(n)] for _ in range(m)]
    b = [[draw(entries) for _ in range(n)] for _ in range(m)]
    return a, b


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(games())
def test_every_profile_is_an_exact_equilibrium(game):
    a, b = game
    result = negotiate(a, b, time_limit_s=None)
    assert result.equilibria, "every finite game has an equilibrium (Nash 1951)"
    assert result.complete
    for e in result.equilibria:
        x, y = e.row_strategy_exact, e.col_strategy_exact
        assert sum(x) == 1 and sum(y) == 1 and min(x) >= 0 and min(y) >= 0
        assert is_nash(a, b, x, y)  # no pure deviation improves either player
        u_row = sum(F(a[i][j]) * x[i] * y[j] for i in range(len(a)) for j in range(len(a[0])))
        assert e.payoffs_exact[0] == u_row
    keys = [e.key() for e in result.equilibria]
    assert len(keys) == len(set(keys))


@SETTINGS
@given(games(), st.sampled_from(RULES), st.tuples(st.integers(-4, 4), st.integers(-4, 4)))
def test_selection_obeys_rule_and_batna(game, rule, batna):
    a, b = game
    result = negotiate(a, b, rule=rule, batna=list(batna), time_limit_s=None)
    admissible = [s for s in result.scores if s.admissible]
    for s in result.scores:
        e = result.equilibria[s.index]
        ok = e.payoffs_exact[0] >= batna[0] and e.payoffs_exact[1] >= batna[1]
        assert s.admissible == ok
    if admissible:
        assert result.outcome == "equilibrium"
        chosen = admissible[0]
        assert result.selected is result.equilibria[chosen.index]
        assert all(chosen.welfare[rule] >= s.welfare[rule] for s in admissible)
        gains = [e - d for e, d in zip(result.selected.payoffs_exact, batna)]
        assert min(gains) >= 0
    else:
        assert result.outcome in ("bargaining", "no_agreement")
        if result.outcome == "bargaining":
            point = result.selected
            assert point.gains[0] > 0 and point.gains[1] > 0
            # The lottery reproduces the bargaining payoffs.
            u = [
                sum(
                    item.probability_exact * [a, b][k][item.row][item.col] for item in point.lottery
                )
                for k in (0, 1)
            ]
            assert tuple(u) == point.payoffs_exact
        else:
            # Nothing beats BATNA for both at once: no cell does.
            assert not any(
                a[i][j] > batna[0] and b[i][j] > batna[1]
                for i in range(len(a))
                for j in range(len(a[0]))
            )


@SETTINGS
@given(games(max_size=3))
def test_deterministic_and_order_independent(game):
    a, b = game
    first = negotiate(a, b, time_limit_s=None).to_json()
    json.dumps(first, allow_nan=False)  # the CLI prints it: strict JSON
    again = negotiate(a, b, time_limit_s=None).to_json()
    for key in ("equilibria", "selected", "outcome", "scores"):
        assert first[key] == again[key]
    # Relabelling the row player's strategies relabels the equilibria, nothing else.
    flipped = negotiate(a[::-1], b[::-1], time_limit_s=None)
    ours = {
        (tuple(e.row_strategy_exact[::-1]), e.col_strategy_exact)
        for e in negotiate(a, b, time_limit_s=None).equilibria
    }
    assert {(e.row_strategy_exact, e.col_strategy_exact) for e in flipped.equilibria} == ours
