"""Malformed disputes: each is refused with the field and the rule, and nothing is stored."""

import copy
import json
from pathlib import Path

import pytest

from dalrn_core.dispute.parse import MAX_DISPUTE_BYTES, parse_dispute
from dalrn_core.errors import InputError

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())


def _mutated(change):
    data = copy.deepcopy(SAMPLE)
    change(data)
    return data


def _set(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


CASES = [
    ("non-finite payoff", _set(["game", "row_payoffs", 1, 0], float("inf")), "game.row_payoffs[1][0]", "finite"),
    ("NaN payoff", _set(["game", "col_payoffs", 0, 1], float("nan")), "game.col_payoffs[0][1]", "finite"),
    ("text payoff", _set(["game", "col_payoffs", 0, 1], "lots"), "game.col_payoffs[0][1]", "number"),
    ("ragged matrix", _set(["game", "col_payoffs", 1], [1]), "game.col_payoffs[1]", "expected 2"),
    ("too few rows", _set(["game", "row_payoffs"], [[6, 1]]), "game.row_payoffs", "expected 2"),
    ("unknown party in evidence", _set(["evidence", 0, "party"], "nobody"), "evidence[0].party", "unknown party"),
    ("unknown party in game", _set(["game", "col_party"], "initech"), "game.col_party", "unknown party"),
    ("empty evidence text", _set(["evidence", 1, "text"], "   "), "evidence[1].text", "must not be empty"),
    ("no evidence", _set(["evidence"], []), "evidence", "at least 1"),
    ("one party", _set(["parties"], [SAMPLE["parties"][0]]), "parties", "at least 2"),
    ("duplicate party", _set(["parties", 1, "id"], "acme"), "parties", "duplicate party id"),
    ("evidence too large", _set(["evidence", 0, "text"], "x" * 20_001), "evidence[0].text", "at most 20000"),
    ("non-finite BATNA", _set(["parties", 0, "batna"], float("-inf")), "parties[0].batna", "finite"),
    ("no strategies", _set(["game", "row_strategies"], []), "game.row_strategies", "at least 1"),
    ("deadline without zone", _set(["deadline"], "2030-01-01T00:00:00"), "deadline", "timezone"),
    ("deadline passed", _set(["deadline"], "2001-01-01T00:00:00Z"), "deadline", "has passed"),
    ("unknown field", _set(["settle_now"], True), "settle_now", "not permitted"),
    ("bad id", _set(["id"], "../../etc"), "id", "pattern"),
    ("missing game", lambda d: d.pop("game"), "game", "needs a bimatrix game"),
    ("same player twice", _set(["game", "col_party"], "acme"), "game.col_party", "must differ"),
]


@pytest.mark.parametrize("name,change,field,rule", CASES, ids=[c[0] for c in CASES])
def test_malformed_dispute_names_field_and_rule(name, change, field, rule):
    with pytest.raises(InputError) as caught:
        parse_dispute(_mutated(change))
    fields = [p.field for p in caught.value.problems]
    assert field in fields, f"{name}: {caught.value}"
    problem = caught.value.problems[fields.index(field)]
    assert rule.lower() in problem.rule.lower(), f"{name}: {problem}"


def test_three_parties_need_joint_outcomes():
    data = copy.deepcopy(SAMPLE)
    data["parties"].append({"id": "initech", "name": "Initech", "batna": 0})
    with pytest.raises(InputError, match="game"):
        parse_dispute(data)
    data.pop("game")
    data["outcomes"] = [{"label": "split", "payoffs": {"acme": 3, "globex": 2}}]
    with pytest.raises(InputError, match="no payoff for party 'initech'"):
        parse_dispute(data)
    data["outcomes"][0]["payoffs"]["initech"] = 1
    assert parse_dispute(data).party_ids == ["acme", "globex", "initech"]


def test_bytes_input_errors():
    with pytest.raises(InputError, match="not valid JSON"):
        parse_dispute(b"{not json")
    with pytest.raises(InputError, match="JSON object"):
        parse_dispute(b"[1, 2]")
    with pytest.raises(InputError, match="too large"):
        parse_dispute(b" " * (MAX_DISPUTE_BYTES + 1))


def test_sample_is_valid():
    assert parse_dispute(SAMPLE).id == "acme-globex-2026-001"
