"""Each party's own side: split and assemble round trip, commitments that catch a tamper,
sealed sides bound to their place, the joint intake and what each party's memo shows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from dalrn_core.dispute.joint import lapse_negotiation, open_joint, open_lapsed
from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.dispute.sides import (
    PartySide,
    assemble,
    check_joint_opening,
    commitment_of,
    parse_opening,
    split_dispute,
    verify_commitment,
)
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.explain.party_view import (
    party_view,
    public_negotiation,
    render_party_markdown,
    seal_memo,
)
from dalrn_core.negotiation import settle
from dalrn_core.sealing import seal_side, unseal_side

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
KEY = bytes(range(32))


def sample() -> Dispute:
    return load_dispute_file(SAMPLE)


def joint_sample(batna_acme: float = 2.0, batna_globex: float = 1.0) -> Dispute:
    data = json.loads(SAMPLE.read_text())
    data["parties"][0].update(tenant="acme-legal", batna=batna_acme)
    data["parties"][1].update(tenant="globex-legal", batna=batna_globex)
    return Dispute.model_validate(data)


def three_party() -> Dispute:
    return Dispute.model_validate({
        "id": "three-001", "tenant": "a-legal", "title": "A three-way split",
        "parties": [{"id": p, "name": p.upper(), "batna": 1.0, "tenant": f"{p}-legal"} for p in "abc"],
        "evidence": [{"id": f"ev-{p}", "party": p, "title": "t", "text": f"text of {p}"} for p in "abc"],
        "outcomes": [{"label": "even", "payoffs": {"a": 3, "b": 3, "c": 3}},
                     {"label": "a wins", "payoffs": {"a": 6, "b": 1.5, "c": 1.5}}],
        "deadline": "2030-01-01T00:00:00Z"})


def test_the_example_splits_and_assembles_back_to_itself():
    dispute = sample()
    shared, sides = split_dispute(dispute)
    assert set(sides) == {"acme", "globex"}
    assert "batna" not in json.dumps(shared.model_dump(mode="json"))
    assert sides["acme"].payoffs == [[6, 1], [4, 2]] and sides["globex"].payoffs == [[5, 1], [2, 3]]
    assert all(verify_commitment(s) for s in sides.values())
    assert assemble(shared, sides) == dispute
    assert assemble(*split_dispute(three_party())) == three_party()


def test_the_commitment_is_sha256_of_salt_and_canonical_inputs():
    side = split_dispute(sample(), salts={"acme": "ab" * 32})[1]["acme"]
    payload = rfc8785.dumps({"party": "acme", "batna": 2.0, "payoffs": [[6.0, 1.0], [4.0, 2.0]]})
    assert side.commitment == hashlib.sha256(bytes.fromhex("ab" * 32) + payload).hexdigest()
    assert commitment_of(side.salt, "acme", 2, [[6, 1], [4, 2]]) == side.commitment  # ints commit as floats
    fresh = [split_dispute(sample())[1]["acme"] for _ in range(2)]
    assert fresh[0].salt != fresh[1].salt and fresh[0].commitment != fresh[1].commitment


@pytest.mark.parametrize("change", [{"batna": 2.5}, {"payoffs": [[6, 1], [4, 3]]}, {"salt": "cd" * 32},
                                    {"party": "globex"}])
def test_a_tampered_side_is_caught(change):
    shared, sides = split_dispute(sample())
    data = {**sides["acme"].model_dump(mode="json"), **change}
    if "party" in change:  # its evidence follows it, so only the commitment is wrong
        data["evidence"] = []
    tampered = PartySide.model_validate(data)
    assert not verify_commitment(tampered)
    key = "acme" if "party" not in change else "globex"
    with pytest.raises(InputError) as caught:
        assemble(shared, {**sides, key: tampered})
    assert caught.value.problems[0].field == f"sides.{key}.commitment"


def test_assembly_names_the_missing_side_and_the_misshapen_payoffs():
    shared, sides = split_dispute(sample())
    with pytest.raises(InputError) as missing:
        assemble(shared, {"acme": sides["acme"]})
    assert str(missing.value.problems[0]) == "sides: no side for party 'globex'"
    short = PartySide.commit(party="globex", batna=1, payoffs=[[5, 1]])
    with pytest.raises(InputError) as shape:
        assemble(shared, {**sides, "globex": short})
    assert shape.value.problems[0].field == "sides.globex.payoffs"
    ragged = PartySide.commit(party="globex", batna=1, payoffs=[[5, 1], [2]])
    with pytest.raises(InputError) as row:
        assemble(shared, {**sides, "globex": ragged})
    assert row.value.problems[0].field == "sides.globex.payoffs[1]"
    shared3, sides3 = split_dispute(three_party())
    wrong = PartySide.commit(party="b", batna=1, payoffs={"even": 1})
    with pytest.raises(InputError) as label:
        assemble(shared3, {**sides3, "b": wrong})
    assert str(label.value.problems[0]) == "sides.b.payoffs: no payoff for outcome 'a wins'"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(-50, 50), min_size=3, max_size=3), min_size=2, max_size=2),
       st.floats(-10, 10, allow_nan=False))
def test_round_trip_for_any_game_and_batna(rows, batna):
    data = joint_sample().model_dump(mode="json")
    data["game"] = {**data["game"], "col_strategies": ["x", "y", "z"], "row_payoffs": rows,
                    "col_payoffs": [[-v for v in r] for r in rows]}
    data["parties"][1]["batna"] = batna
    dispute = Dispute.model_validate(data)
    assert assemble(*split_dispute(dispute)) == dispute


def test_a_joint_opening_files_only_the_openers_side():
    shared, sides = split_dispute(joint_sample())
    opening = parse_opening({**shared.model_dump(mode="json"), "side": sides["acme"].model_dump(mode="json")})
    check_joint_opening(opening, opening.side, "acme-legal")
    with pytest.raises(InputError) as other:
        check_joint_opening(opening, sides["globex"], "acme-legal")
    assert other.value.problems[0].field == "side.party"
    with pytest.raises(InputError) as stranger:
        check_joint_opening(opening, opening.side, "initech")
    assert stranger.value.problems[0].field == "parties"
    twice = shared.model_dump(mode="json")
    twice["parties"][1]["tenant"] = "acme-legal"
    with pytest.raises(InputError) as same:
        check_joint_opening(parse_opening({**twice, "side": opening.side.model_dump(mode="json")}),
                            opening.side, "acme-legal")
    assert same.value.problems[0].field == "parties[1].tenant"


def test_a_sealed_side_opens_only_in_its_place_and_unaltered():
    side = split_dispute(sample())[1]["acme"]
    blob = seal_side(side, "acme-legal", "d-1", KEY)
    assert b"Redistribution" not in blob and b"6.0" not in blob
    assert unseal_side(blob, "acme-legal", "d-1", "acme", KEY) == side
    for place in [("globex-legal", "d-1", "acme"), ("acme-legal", "d-2", "acme"), ("acme-legal", "d-1", "globex")]:
        with pytest.raises(IntegrityError):
            unseal_side(blob, *place, KEY)
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(IntegrityError):
        unseal_side(flipped, "acme-legal", "d-1", "acme", KEY)
    with pytest.raises(IntegrityError):
        unseal_side(blob, "acme-legal", "d-1", "acme", bytes(32))


def _sealed(store, dispute, sides, parties):
    return {p: store.put(seal_side(sides[p], dispute.tenant, dispute.id)) for p in parties}


def test_joint_intake_opens_the_sides_and_stores_only_commitments(tmp_path):
    store = LocalContentStore(tmp_path / "content")
    dispute = joint_sample(batna_acme=2.123456, batna_globex=1.654321)
    shared, sides = split_dispute(dispute)
    cids = _sealed(store, dispute, sides, ["acme", "globex"])
    intake = open_joint(shared.model_dump(mode="json"), "acme-legal", cids, store)
    assert intake.dispute == dispute
    assert intake.commitments == {p: s.commitment for p, s in sides.items()}
    assert intake.receipt_fields()["outputs"]["commitments"] == intake.commitments
    stored = store.get(intake.dispute_cid).decode()
    assert "2.123456" not in stored and "1.654321" not in stored and sides["acme"].commitment in stored
    with pytest.raises(InputError):
        open_joint(shared.model_dump(mode="json"), "globex-legal", cids, store)  # another tenant's run
    swapped = {"acme": cids["globex"], "globex": cids["acme"]}
    with pytest.raises(IntegrityError):
        open_joint(shared.model_dump(mode="json"), "acme-legal", swapped, store)


def test_a_lapsed_dispute_says_which_party_did_not_join(tmp_path):
    store = LocalContentStore(tmp_path / "content")
    dispute = joint_sample()
    shared, sides = split_dispute(dispute)
    cids = _sealed(store, dispute, sides, ["acme"])
    intake = open_lapsed(shared.model_dump(mode="json"), "acme-legal", cids, ["globex"], store)
    negotiation = lapse_negotiation(intake, "nsw")
    outputs = negotiation.receipt_fields()["outputs"]
    assert outputs["outcome"] == "no_agreement"
    assert outputs["reason"] == "party globex did not join by 2030-06-30T17:00:00Z"
    assert intake.receipt_fields()["outputs"]["absent_parties"] == ["globex"]
    with pytest.raises(InputError):
        open_lapsed(shared.model_dump(mode="json"), "acme-legal", cids, ["acme"], store)


def _memo_of(dispute: Dispute):
    from dalrn_core.explain.memo import build_memo

    result = settle(dispute)
    memo = build_memo(dispute, dispute_cid="cid-d", evidence_cids={d.id: f"cid-{d.id}" for d in dispute.evidence},
                      precedents=[], evidence_relevance={}, negotiation=result,
                      diagram={"png_cid": "cid-png", "mermaid": "graph TD"}, receipts=["r0"])
    return result, memo


def test_each_party_reads_its_own_values_and_only_the_others_commitment():
    # Marker values that appear nowhere else: the counterparty's view must not contain them.
    # Four significant digits: the Markdown rounds to four, so it would show them as they are.
    dispute = joint_sample(batna_acme=2.047, batna_globex=1.039)
    data = dispute.model_dump(mode="json")
    data["game"]["col_payoffs"] = [[5.029, 1.017], [2.011, 3.043]]
    dispute = Dispute.model_validate(data)
    _shared, sides = split_dispute(dispute)
    result, memo = _memo_of(dispute)
    stored = seal_memo(memo, dispute, result, {p: s.commitment for p, s in sides.items()})
    globex_markers = ["1.039", "5.029", "1.017", "2.011", "3.043"]
    stored_text = json.dumps(stored) + render_party_markdown(stored)
    assert not any(m in stored_text for m in [*globex_markers, "2.047"])
    assert sides["globex"].commitment in stored_text and sides["acme"].commitment in stored_text

    acme = party_view(stored, {"acme": sides["acme"]})
    acme_text = json.dumps(acme) + render_party_markdown(acme)
    assert not any(m in acme_text for m in globex_markers) and sides["globex"].salt not in acme_text
    assert "2.047" in render_party_markdown(acme) and sides["acme"].salt in acme_text
    own = next(p for p in acme["parties"] if p["id"] == "acme")["own"]
    assert own["settlement_payoff"] == pytest.approx(result.payoffs["acme"])
    assert own["gain"] == pytest.approx(result.gains["acme"])
    globex = party_view(stored, {"globex": sides["globex"]})
    own = next(p for p in globex["parties"] if p["id"] == "globex")["own"]
    assert own["settlement_payoff"] == pytest.approx(result.payoffs["globex"])
    assert "2.047" not in json.dumps(globex) + render_party_markdown(globex)
    assert all(m in render_party_markdown(globex) for m in globex_markers)
    # Both read the same settlement, rule and choice.
    assert acme["settlement"]["terms"] == globex["settlement"]["terms"] == memo["settlement"]["terms"]
    assert acme["negotiation"]["selected"] == result.selected
    with pytest.raises(IntegrityError):  # a side other than the committed one is refused
        party_view(stored, {"acme": split_dispute(dispute)[1]["acme"]})


def test_public_negotiation_keeps_no_private_number():
    dispute = joint_sample(batna_acme=2.0417, batna_globex=1.0389)
    public = public_negotiation(settle(dispute))
    text = json.dumps(public)
    assert "2.0417" not in text and "1.0389" not in text and "batna" not in text and "gains" not in text
    assert public["outcome"] == "equilibrium" and public["strategies"]


def test_a_one_sided_memo_says_whose_word_the_inputs_rest_on():
    from dalrn_core.explain.memo import render_markdown

    _, memo = _memo_of(sample())
    assert memo["filed_by"] == "filed by tenant acme-legal for both parties"
    assert "filed by tenant acme-legal for both parties" in render_markdown(memo)
    _, memo3 = _memo_of(three_party())
    assert memo3["filed_by"] == "filed by tenant a-legal for all 3 parties"


def test_a_three_party_view_fills_in_only_the_viewers_payoffs():
    dispute = three_party()
    _, sides = split_dispute(dispute)
    result, memo = _memo_of(dispute)
    stored = seal_memo(memo, dispute, result, {p: s.commitment for p, s in sides.items()})
    view = party_view(stored, {"b": sides["b"]})
    own = next(p for p in view["parties"] if p["id"] == "b")["own"]
    assert own["settlement_payoff"] == pytest.approx(result.payoffs["b"])
    text = render_party_markdown(view)
    assert "## Your side (b)" in text and "| a wins | 1.5 |" in text
    assert "## Your side (a)" not in text and sides["a"].salt not in text
