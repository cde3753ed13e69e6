"""The memo says what the negotiation result supports, for every kind of outcome.

Each test builds a real dispute, negotiates it with the real solver, and checks the memo's
sentences and numbers against values computed here from the game itself.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.explain.memo import build_memo, render_markdown
from dalrn_core.negotiation import settle

EXAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "supply-contract.json").read_text())


def _dispute(row, col, batna=(2.0, 1.0), **changes):
    data = copy.deepcopy(EXAMPLE)
    data["parties"][0]["batna"], data["parties"][1]["batna"] = batna
    data["game"]["row_payoffs"], data["game"]["col_payoffs"] = row, col
    rows, cols = len(row), len(row[0])
    data["game"]["row_strategies"] = [f"r{i}" for i in range(rows)]
    data["game"]["col_strategies"] = [f"c{j}" for j in range(cols)]
    data.update(changes)
    return parse_dispute(data)


def _memo(dispute, time_limit_s=5.0):
    negotiation = settle(dispute, time_limit_s=time_limit_s)
    memo = build_memo(
        dispute, dispute_cid="bafy-dispute", evidence_cids={e.id: f"bafy-{e.id}" for e in dispute.evidence},
        precedents=[], evidence_relevance={}, negotiation=negotiation,
        diagram={"png_cid": "bafy-png", "mermaid": "flowchart LR"}, receipts=["bafy-r0"],
    )
    return negotiation, memo, render_markdown(memo)


def _pure_equilibria(a, b):
    """Independent reference: cells where neither party gains by deviating alone."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return [(i, j) for i in range(a.shape[0]) for j in range(a.shape[1])
            if a[i, j] >= a[:, j].max() and b[i, j] >= b[i, :].max()]


def test_equilibrium_outcome_names_the_admissible_equilibria_and_each_gain():
    row, col = [[6, 1], [4, 2]], [[5, 1], [2, 3]]
    negotiation, memo, md = _memo(_dispute(row, col))
    assert negotiation.outcome == "equilibrium" and negotiation.search.complete
    # (r0, c0) = (6, 5) and (r1, c1) = (2, 3) are the pure equilibria; only the first beats BATNA (2, 1)
    assert _pure_equilibria(row, col) == [(0, 0), (1, 1)]
    parties = memo["batna_comparison"]["parties"]
    assert parties["acme"] == {"batna": 2.0, "settlement_payoff": 6.0, "gain": 4.0}
    assert parties["globex"] == {"batna": 1.0, "settlement_payoff": 5.0, "gain": 4.0}
    admissible = memo["batna_comparison"]["admissible_equilibria"]
    for i in admissible:
        payoffs = negotiation.equilibria[i].payoffs
        assert payoffs[0] >= 2.0 and payoffs[1] >= 1.0
    for i in memo["batna_comparison"]["equilibria_below_batna"]:
        payoffs = negotiation.equilibria[i].payoffs
        assert payoffs[0] < 2.0 or payoffs[1] < 1.0
    assert "these are all the extreme equilibria" in md
    assert "others may exist" not in md
    assert "Equilibrium #0 gives acme 6 >= BATNA 2, globex 5 >= BATNA 1." in md
    assert negotiation.selected == 0 and negotiation.payoffs == {"acme": 6.0, "globex": 5.0}
    assert "| acme | 2 | 6 | 4 |" in md and "| globex | 1 | 5 | 4 |" in md


def test_bargaining_outcome_says_no_equilibrium_beats_batna_and_shows_the_bargained_payoffs():
    # prisoner's dilemma: the only equilibrium (defect, defect) = (1, 1) is below BATNA (2, 2);
    # the Nash bargaining point over the hull above (2, 2) is mutual cooperation (3, 3)
    row, col = [[3, 0], [5, 1]], [[3, 5], [0, 1]]
    assert _pure_equilibria(row, col) == [(1, 1)]
    negotiation, memo, md = _memo(_dispute(row, col, batna=(2.0, 2.0)))
    assert negotiation.outcome == "bargaining"
    assert memo["batna_comparison"]["admissible_equilibria"] == []
    parties = memo["batna_comparison"]["parties"]
    assert parties["acme"]["settlement_payoff"] == pytest.approx(3.0)
    assert parties["globex"]["settlement_payoff"] == pytest.approx(3.0)
    assert memo["settlement"]["terms"] == {"agreement": "r0 / c0"}
    assert "No equilibrium gives every party at least its BATNA" in md
    assert "Equilibrium #0 is below BATNA: acme gets 1 < BATNA 2; globex gets 1 < BATNA 2." in md
    assert "every admissible outcome" not in md


def test_no_agreement_says_each_party_keeps_its_batna_and_claims_no_settlement():
    row, col = [[6, 1], [4, 2]], [[5, 1], [2, 3]]
    negotiation, memo, md = _memo(_dispute(row, col, batna=(7.0, 6.0)))
    assert negotiation.outcome == "no_agreement"
    assert memo["settlement"]["payoffs"] == {}
    parties = memo["batna_comparison"]["parties"]
    assert parties["acme"] == {"batna": 7.0, "settlement_payoff": None, "gain": None}
    assert "each party keeps its BATNA (acme 7, globex 6)" in md
    assert "Equilibria giving every party at least its BATNA" not in md


def test_timed_out_search_says_the_set_may_be_incomplete():
    rng = np.random.default_rng(7)
    row = rng.integers(0, 10, (16, 16)).tolist()
    col = rng.integers(0, 10, (16, 16)).tolist()
    negotiation, _, md = _memo(_dispute(row, col, batna=(0.0, 0.0)), time_limit_s=0.3)
    assert negotiation.search.timed_out and not negotiation.search.complete
    assert "stopped at its time limit before a complete enumeration finished" in md
    assert f"the methods that did ({', '.join(negotiation.search.methods)})" in md
    assert "these are all the extreme equilibria" not in md
    # whatever the cut-off search kept is a real equilibrium of the game (independent check)
    a, b = np.asarray(row, float), np.asarray(col, float)
    assert negotiation.equilibria
    for eq in negotiation.equilibria:
        x, y = np.asarray(eq.row_strategy), np.asarray(eq.col_strategy)
        assert x @ a @ y == pytest.approx((a @ y).max(), abs=1e-9)
        assert x @ b @ y == pytest.approx((x @ b).max(), abs=1e-9)


def test_n_party_memo_describes_the_lottery_and_compares_each_batna():
    data = copy.deepcopy(EXAMPLE)
    data.pop("game")
    data["parties"].append({"id": "initech", "name": "Initech", "batna": 0.0, "claim": "third"})
    data["parties"][0]["batna"], data["parties"][1]["batna"] = 1.0, 1.0
    data["outcomes"] = [
        {"label": "split", "payoffs": {"acme": 3, "globex": 3, "initech": 3}},
        {"label": "acme keeps", "payoffs": {"acme": 5, "globex": 0, "initech": 0}},
    ]
    dispute = parse_dispute(data)
    negotiation, memo, md = _memo(dispute)
    assert negotiation.outcome == "bargaining"
    # any weight on "acme keeps" drops globex and initech: the product of gains peaks at "split"
    assert memo["settlement"]["terms"] == {"agreement": "split"}
    for party, batna in (("acme", 1.0), ("globex", 1.0), ("initech", 0.0)):
        entry = memo["batna_comparison"]["parties"][party]
        assert entry["batna"] == batna
        assert entry["settlement_payoff"] == pytest.approx(3.0, abs=1e-6)
    assert "Nash bargaining solution over lotteries of the joint outcomes" in md
    # no equilibrium search ran for joint outcomes, so the memo claims none
    assert negotiation.search is None and negotiation.equilibria == []
    assert "equilibri" not in md.split("## How the settlement was chosen")[1].split("## BATNA comparison")[0]


def test_memo_from_the_model_or_its_json_is_the_same():
    row, col = [[3, 0], [5, 1]], [[3, 5], [0, 1]]
    dispute = _dispute(row, col, batna=(2.0, 2.0))
    negotiation = settle(dispute)
    kwargs = {"dispute_cid": "c", "evidence_cids": {e.id: e.id for e in dispute.evidence}, "precedents": [],
                  "evidence_relevance": {}, "diagram": {}, "receipts": []}
    from_model = build_memo(dispute, negotiation=negotiation, **kwargs)
    from_json = build_memo(dispute, negotiation=json.loads(json.dumps(negotiation.model_dump(mode="json"))),
                           **kwargs)
    assert from_model == from_json
    assert from_model["negotiation"]["payoffs"] == pytest.approx({"acme": 3.0, "globex": 3.0})
