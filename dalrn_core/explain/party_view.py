"""The memo of a joint dispute, as stored and as each party reads it.

In a joint filing each party filed its own side, and its BATNA and payoffs are for it and
the negotiation alone. So the stored memo (`seal_memo`, JSON and Markdown, by CID) holds
each party's private inputs only as its salted commitment, the hash the intake receipt
carries too. The settlement (each party's strategy, or the lottery), the rule, and why it
was chosen (which equilibria there were, which gave every party at least its BATNA, how the
rule ranked them) stay readable by every party; welfare numbers, payoffs and gains, which
would give the others' values away, do not appear.

`party_view` is what one party reads: the stored memo with its own side filled in (its
BATNA, its payoff matrix, what the settlement and each equilibrium pay it, its salt, so it
can later prove which input was used), the others' still only as commitments.
`render_party_markdown` renders either.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.sides import PartySide, verify_commitment
from dalrn_core.errors import IntegrityError
from dalrn_core.explain.markdown import md_code, md_fence, md_text
from dalrn_core.explain.memo import RULE_TEXT, _fmt, describe_strategy
from dalrn_core.negotiation.result import NegotiationResult

if TYPE_CHECKING:
    from dalrn_core.dispute.stages import LapsedIntake

JOINT_MEMO_VERSION = "dalrn.memo.joint/1"
INPUTS_SENTENCE = ("Each party filed its own side. A party's BATNA and payoffs are shown only to that "
                   "party; the others' appear as their salted commitments (SHA-256 of salt and inputs), "
                   "which the intake receipt also carries.")


def public_negotiation(result: NegotiationResult, *, reason: str | None = None) -> dict[str, Any]:
    """What every party may read of the negotiation: strategies, admissibility and ranks."""
    candidates = {c.index: c for c in result.candidates}
    equilibria = [{"index": i, "row_strategy": eq.row_strategy, "col_strategy": eq.col_strategy,
                   "admissible": candidates[i].admissible if i in candidates else None,
                   "rank": candidates[i].rank if i in candidates else None}
                  for i, eq in enumerate(result.equilibria)]
    search = result.search.model_dump(mode="json") if result.search is not None else None
    return {"game": result.game, "outcome": result.outcome, "parties": list(result.parties), "rule": result.rule,
            "selected": result.selected, "strategies": result.strategies,
            "lottery": [t.model_dump(mode="json") for t in result.lottery], "search": search,
            "equilibria": equilibria, "reason": reason}


def _shape(dispute_game: Any, outcomes: Any) -> dict[str, Any]:
    if dispute_game is not None:
        return {"game": {"row_party": dispute_game.row_party, "col_party": dispute_game.col_party,
                         "row_strategies": list(dispute_game.row_strategies),
                         "col_strategies": list(dispute_game.col_strategies)}, "outcomes": None}
    return {"game": None, "outcomes": list(outcomes or [])}


def seal_memo(memo: dict[str, Any], dispute: Dispute, negotiation: NegotiationResult,
              commitments: Mapping[str, str]) -> dict[str, Any]:
    """The memo of a joint filing as stored: `memo` (of `build_memo`) without private values."""
    settlement = memo["settlement"]
    return {
        "version": JOINT_MEMO_VERSION,
        "dispute_id": memo["dispute_id"], "dispute_cid": memo["dispute_cid"], "title": memo["title"],
        "tenant": memo["tenant"], "mediator": memo.get("mediator"), "inputs": INPUTS_SENTENCE,
        "parties": [{"id": p.id, "name": p.name, "tenant": p.tenant, "claim": p.claim,
                     "commitment": commitments[p.id], "joined": True} for p in dispute.parties],
        **_shape(dispute.game, [o.label for o in dispute.outcomes or []]),
        "evidence": memo["evidence"], "precedents": memo["precedents"],
        "rule": negotiation.rule, "rule_text": memo["rule_text"],
        "settlement": {"outcome": settlement["outcome"], "terms": settlement["terms"],
                       "strategies": negotiation.strategies,
                       "lottery": [t.model_dump(mode="json") for t in negotiation.lottery], "reason": None},
        "negotiation": public_negotiation(negotiation),
        "influence_diagram": memo["influence_diagram"], "receipts": memo["receipts"],
    }


def lapsed_memo(intake: LapsedIntake, negotiation: NegotiationResult, *, diagram: dict[str, Any],
                receipts: list[str]) -> dict[str, Any]:
    """The stored memo of a joint dispute that lapsed: no agreement, and which party did not join."""
    shared = intake.shared
    reason = intake.reason
    return {
        "version": JOINT_MEMO_VERSION,
        "dispute_id": shared.id, "dispute_cid": intake.dispute_cid, "title": shared.title,
        "tenant": shared.tenant, "mediator": None, "inputs": INPUTS_SENTENCE,
        "parties": [{"id": p.id, "name": p.name, "tenant": p.tenant, "claim": "",
                     "commitment": intake.commitments.get(p.id), "joined": p.id in intake.commitments}
                    for p in shared.parties],
        **_shape(shared.game, shared.outcomes),
        "evidence": [], "precedents": [],
        "rule": negotiation.rule, "rule_text": RULE_TEXT.get(negotiation.rule, negotiation.rule),
        "settlement": {"outcome": "no_agreement", "terms": {}, "strategies": None, "lottery": [],
                       "reason": reason},
        "negotiation": public_negotiation(negotiation, reason=reason),
        "influence_diagram": diagram, "receipts": receipts,
    }


def _mix_payoff(matrix: list[list[float]], row_mix: list[float], col_mix: list[float]) -> float:
    return sum(p * q * matrix[i][j] for i, p in enumerate(row_mix) for j, q in enumerate(col_mix))


def own_settlement_payoff(memo: dict[str, Any], side: PartySide) -> float | None:
    """What the settlement pays `side`'s party, from its own payoffs (None: no agreement)."""
    settlement = memo["settlement"]
    if settlement["outcome"] == "no_agreement":
        return None
    game, payoffs = memo["game"], side.payoffs
    if game is not None and isinstance(payoffs, list):
        if settlement.get("strategies"):
            mixes = settlement["strategies"]
            return _mix_payoff(payoffs, mixes[game["row_party"]], mixes[game["col_party"]])
        return float(sum(t["probability"] * payoffs[t["row"]][t["col"]] for t in settlement["lottery"]))
    if isinstance(payoffs, dict):
        labels = memo["outcomes"]
        return float(sum(t["probability"] * payoffs[labels[t["outcome"]]] for t in settlement["lottery"]))
    raise IntegrityError(f"side of party {side.party!r} does not fit the memo's game")


def party_view(memo: dict[str, Any], sides: Mapping[str, PartySide]) -> dict[str, Any]:
    """The stored joint memo with the viewer's own sides filled in, the others' as commitments.

    Each side must be the one the memo (and so the receipts) committed to.
    """
    view = copy.deepcopy(memo)
    view["viewer"] = sorted(sides)
    for party in view["parties"]:
        side = sides.get(party["id"])
        if side is None:
            continue
        if side.commitment != party["commitment"] or not verify_commitment(side):
            raise IntegrityError(f"the side of party {party['id']!r} is not the one the memo committed to")
        payoff = own_settlement_payoff(memo, side)
        party["own"] = {"batna": side.batna, "payoffs": side.payoffs, "salt": side.salt,
                        "settlement_payoff": payoff, "gain": None if payoff is None else payoff - side.batna}
        game = memo["game"]
        if game is not None and isinstance(side.payoffs, list):
            for eq in view["negotiation"]["equilibria"]:
                eq.setdefault("own_payoffs", {})[party["id"]] = _mix_payoff(
                    side.payoffs, eq["row_strategy"], eq["col_strategy"])
    return view


def _text(value: object) -> str:
    """Party-written text as literal Markdown (`markdown.md_text`), one line."""
    return md_text(" ".join(str(value).split()))


def _short_hash(commitment: str | None) -> str:
    return f"commitment {md_code(commitment, in_table=True)}" if commitment else "did not join"


def render_party_markdown(memo: dict[str, Any]) -> str:
    """The joint memo (stored, or one party's view) for people."""
    viewer = memo.get("viewer") or []
    lines = [f"# Settlement memo: {_text(memo['title'])}", "",
             (f"Dispute {md_code(memo['dispute_id'])} (CID {md_code(memo['dispute_cid'])}), opened by tenant "
              f"{md_code(memo['tenant'])}."),
             _text(memo["inputs"])]
    if viewer:
        lines.append(f"This is the view of party {_text(', '.join(viewer))}: its own values are filled in.")
    mediator = memo.get("mediator")
    if mediator:
        lines.append(f"Mediated by agent {_text(mediator['agent'])} of network "
                     f"{md_code(mediator['network'][:12])}.")
    settlement = memo["settlement"]
    lines += ["", "## Outcome", "", f"**{_text(settlement['outcome'].replace('_', ' '))}**", ""]
    if settlement.get("reason"):
        # Written by the lapse check from validated party ids and the deadline, not by a party.
        lines.append(f"No negotiation took place: {settlement['reason']}.")
    own = {p["id"]: p["own"] for p in memo["parties"] if "own" in p}
    for who, term in settlement["terms"].items():
        pays = f" (your payoff {_fmt(own[who]['settlement_payoff'])})" if who in own else ""
        lines.append(f"- {_text(who)}: {_text(term)}{pays}")
    lines += ["", "## Parties and claims", "", "| party | name | tenant | BATNA | claim |", "|---|---|---|---|---|"]
    for p in memo["parties"]:
        batna = _fmt(p["own"]["batna"]) if "own" in p else _short_hash(p["commitment"])
        lines.append(f"| {_text(p['id'])} | {_text(p['name'])} | {_text(p['tenant'] or '-')} | {batna} "
                     f"| {_text(p['claim'])} |")
    lines += _own_inputs(memo, own)
    if memo["evidence"]:
        lines += ["", "## Evidence", "", "| id | party | title | CID |", "|---|---|---|---|"]
        lines += [f"| {_text(e['id'])} | {_text(e['party'])} | {_text(e['title'])} "
                  f"| {md_code(e['cid'], in_table=True)} |" for e in memo["evidence"]]
    if memo["precedents"]:
        lines += ["", "## Precedents revealed by the tenant", "", "| rank | precedent | encrypted-search score |",
                  "|---|---|---|"]
        lines += [f"| {i} | {_text(p['precedent_id'])} | {p['score']:.4f} |"
                  for i, p in enumerate(memo["precedents"], 1)]
    lines += _chosen(memo, own)
    diagram = memo.get("influence_diagram") or {}
    if diagram.get("mermaid"):
        fence = md_fence(diagram["mermaid"])  # a label cannot close the block early
        lines += ["", "## Causal influence diagram", "",
                  f"Image CID {md_code(diagram.get('png_cid', '-'))}.", "",
                  f"{fence}mermaid", diagram["mermaid"], fence]
    lines += ["", "## Receipts so far", ""]
    lines += [f"{i}. {md_code(cid)}" for i, cid in enumerate(memo["receipts"])]
    return "\n".join(lines) + "\n"


def _own_inputs(memo: dict[str, Any], own: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    game = memo["game"]
    for party, values in own.items():
        lines += ["", f"## Your side ({_text(party)})", "",
                  f"BATNA {_fmt(values['batna'])}; the settlement pays you {_fmt(values['settlement_payoff'])}"
                  f" (gain {_fmt(values['gain'])})." if values["settlement_payoff"] is not None else
                  f"BATNA {_fmt(values['batna'])}; with no agreement you keep it.", ""]
        if game is not None:
            lines += ["| row \\ column | " + " | ".join(_text(c) for c in game["col_strategies"]) + " |",
                      "|---" * (len(game["col_strategies"]) + 1) + "|"]
            lines += [f"| {_text(label)} | " + " | ".join(_fmt(x) for x in row) + " |"
                      for label, row in zip(game["row_strategies"], values["payoffs"])]
        else:
            lines += ["| outcome | your payoff |", "|---|---|"]
            lines += [f"| {_text(label)} | {_fmt(values['payoffs'][label])} |" for label in memo["outcomes"]]
        lines += ["", (f"Salt {md_code(values['salt'])}: with it and these inputs anyone can recompute your "
                      "commitment, so keep it to prove later which input was used.")]
    return lines


def _chosen(memo: dict[str, Any], own: dict[str, dict[str, Any]]) -> list[str]:
    neg = memo["negotiation"]
    lines = ["", "## How the settlement was chosen", "", f"Rule: {_text(memo['rule_text'])}."]
    if neg.get("reason"):
        return lines
    game = memo["game"]
    if neg["equilibria"] and game is not None:
        mine = [p for p in (game["row_party"], game["col_party"]) if p in own]
        extra = "".join(f" {_text(p)}'s payoff |" for p in mine)
        lines += ["", "| # | row strategy | column strategy | every party at least its BATNA | rank |" + extra,
                  "|---|---|---|---|---|" + "---|" * len(mine)]
        for eq in neg["equilibria"]:
            rank = "selected" if eq["index"] == neg["selected"] else ("-" if eq["rank"] is None else eq["rank"])
            cells = "".join(f" {_fmt(eq['own_payoffs'][p])} |" for p in mine)
            lines.append(f"| {eq['index']} | {_text(describe_strategy(game['row_strategies'], eq['row_strategy']))} "
                         f"| {_text(describe_strategy(game['col_strategies'], eq['col_strategy']))} "
                         f"| {eq['admissible']} | {rank} |{cells}")
    search = neg.get("search")
    if search is not None:
        complete = "a complete enumeration finished" if search["complete"] else "no complete enumeration finished"
        methods = _text(", ".join(search["methods"]) or "no method")
        lines += ["", f"Equilibrium search: {complete} ({methods})."]
    outcome = neg["outcome"]
    lines.append("")
    if outcome == "equilibrium":
        lines.append("The rule chose among the equilibria giving every party at least its BATNA; the welfare "
                     "numbers it compared are computed from every party's private values and are not shown.")
    elif outcome == "bargaining":
        lines.append("No equilibrium gives every party at least its BATNA, so the settlement is the Nash "
                     "bargaining solution over lotteries of the outcomes.")
    else:
        lines.append("No lottery over the outcomes gives every party more than its BATNA: no agreement, and "
                     "each party keeps its BATNA.")
    return lines
