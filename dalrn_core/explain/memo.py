"""The explanation memo: why this settlement, in JSON for machines and Markdown for people.

The memo states the parties and claims, the evidence (with CIDs), the precedents the tenant
revealed (with scores), every equilibrium found, the selection rule and the welfare numbers
that decided, why each alternative lost, each party's BATNA against its settlement payoff,
what the equilibrium search established (complete or not), and the receipts so far. It is built from plain values so that the same inputs give the same bytes
and the same CID.
"""

from __future__ import annotations

from typing import Any

from dalrn_core.dispute.model import Dispute
from dalrn_core.explain.markdown import md_code, md_fence, md_text
from dalrn_core.negotiation.result import EquilibriumSearch, NegotiationResult

MEMO_VERSION = "dalrn.memo/1"

RULE_TEXT = {
    "nsw": "Nash social welfare: the product of each party's gain over its BATNA",
    "egalitarian": "egalitarian: the smallest gain over BATNA among the parties (maximin)",
    "kalai_smorodinsky": "Kalai-Smorodinsky: gains over BATNA in proportion to each party's best possible gain",
    "utilitarian": "utilitarian: the sum of the parties' gains over BATNA",
}


def describe_strategy(labels: list[str], mix: list[float]) -> str:
    """'litigate' for a pure strategy, '60% cure, 40% litigate' for a mixed one."""
    used = [(label, p) for label, p in zip(labels, mix) if p > 1e-9]
    if len(used) == 1:
        return used[0][0]
    return ", ".join(f"{p:.0%} {label}" for label, p in used)


def as_result(negotiation: NegotiationResult | dict[str, Any]) -> NegotiationResult:
    """The negotiation as the model, from the model or its JSON (``model_dump``)."""
    if isinstance(negotiation, NegotiationResult):
        return negotiation
    return NegotiationResult.model_validate(negotiation)


def settlement_terms(dispute: Dispute, negotiation: NegotiationResult) -> dict[str, Any]:
    """The selected outcome in the parties' own words, with each party's payoff."""
    outcome = negotiation.outcome
    if outcome == "no_agreement":
        return {"outcome": outcome, "terms": {}, "payoffs": {}}
    payoffs = dict(negotiation.payoffs or {})
    if dispute.game is not None:
        game = dispute.game
        if negotiation.strategies is not None:
            terms = {
                game.row_party: describe_strategy(game.row_strategies, negotiation.strategies[game.row_party]),
                game.col_party: describe_strategy(game.col_strategies, negotiation.strategies[game.col_party]),
            }
        else:  # a bargained lottery over the game's cells
            cells = [(f"{game.row_strategies[t.row]} / {game.col_strategies[t.col]}", t.probability)
                     for t in negotiation.lottery if t.row is not None and t.col is not None]
            terms = {"agreement": _describe_lottery(cells)}
        return {"outcome": outcome, "terms": terms, "payoffs": payoffs}
    labels = [o.label for o in dispute.outcomes or []]
    cells = [(labels[t.outcome], t.probability) for t in negotiation.lottery]
    return {"outcome": outcome, "terms": {"agreement": _describe_lottery(cells)}, "payoffs": payoffs}


def _describe_lottery(cells: list[tuple[str, float]]) -> str:
    if len(cells) == 1:
        return cells[0][0]
    return "lottery: " + ", ".join(f"{p:.0%} {label}" for label, p in cells)


def batna_comparison(negotiation: NegotiationResult, settlement: dict[str, Any]) -> dict[str, Any]:
    """Each party's BATNA as the negotiation used it, against what the settlement gives it.

    For a two-party game also the equilibria that give every party at least its BATNA
    (the admissible ones the rule chose among).
    """
    parties = {}
    for party, value in negotiation.batna.items():
        payoff = settlement["payoffs"].get(party)
        parties[party] = {"batna": value, "settlement_payoff": payoff,
                          "gain": None if payoff is None else payoff - value}
    return {
        "parties": parties,
        "admissible_equilibria": sorted(c.index for c in negotiation.candidates if c.admissible),
        "equilibria_below_batna": sorted(c.index for c in negotiation.candidates if not c.admissible),
    }


def filed_by(dispute: Dispute) -> str:
    """Whose word a one-sided filing's inputs rest on: the submitting tenant's, for every party."""
    who = "both parties" if len(dispute.parties) == 2 else f"all {len(dispute.parties)} parties"
    return f"filed by tenant {dispute.tenant} for {who}"


def build_memo(
    dispute: Dispute,
    *,
    dispute_cid: str,
    evidence_cids: dict[str, str],
    precedents: list[dict[str, Any]],
    evidence_relevance: dict[str, list[dict[str, Any]]],
    negotiation: NegotiationResult | dict[str, Any],
    diagram: dict[str, str],
    receipts: list[str],
    mediator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The memo as a JSON-ready dict (see the module docstring for what it holds).

    ``negotiation`` is the `NegotiationResult` of `dalrn_core.negotiation.settle` or its
    ``model_dump(mode="json")``; the memo holds the latter.
    """
    result = as_result(negotiation)
    settlement = settlement_terms(dispute, result)
    return {
        "version": MEMO_VERSION,
        "dispute_id": dispute.id,
        "dispute_cid": dispute_cid,
        "title": dispute.title,
        "tenant": dispute.tenant,
        "filed_by": filed_by(dispute),
        "mediator": mediator,
        "parties": [
            {"id": p.id, "name": p.name, "claim": p.claim, "batna": p.batna} for p in dispute.parties
        ],
        "evidence": [
            {
                "id": doc.id,
                "party": doc.party,
                "title": doc.title,
                "cid": evidence_cids[doc.id],
                "closest_precedents": evidence_relevance.get(doc.id, []),
            }
            for doc in dispute.evidence
        ],
        "precedents": precedents,
        "negotiation": result.model_dump(mode="json"),
        "rule_text": RULE_TEXT.get(result.rule, result.rule),
        "settlement": settlement,
        "batna_comparison": batna_comparison(result, settlement),
        "influence_diagram": diagram,
        "receipts": receipts,
    }


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(memo: dict[str, Any]) -> str:
    """The memo for people: headings, tables and the diagram in Mermaid.

    Every value from the memo goes in through `md_text` / `md_code`: party-written text
    (names, claims, titles, strategy labels) renders as written and cannot add Markdown or
    HTML of its own.
    """
    lines = [f"# Settlement memo: {md_text(memo['title'])}", "",
             (f"Dispute {md_code(memo['dispute_id'])} (CID {md_code(memo['dispute_cid'])}), "
              f"tenant {md_code(memo['tenant'])}.")]
    if memo.get("filed_by"):
        lines.append(f"Every party's inputs (BATNA, payoffs, claim, evidence) rest on the word of whoever "
                     f"filed them: {memo['filed_by']}.")
    mediator = memo.get("mediator")
    if mediator:
        lines.append(f"Mediated by agent {md_text(mediator['agent'])} of network "
                     f"{md_code(mediator['network'][:12])} (predicted latency "
                     f"{mediator['predicted_latency']:.3g}, by {md_text(mediator['basis'])}).")
    lines.append("")
    settlement = memo["settlement"]
    lines += ["## Outcome", "", f"**{md_text(settlement['outcome'].replace('_', ' '))}**", ""]
    for who, term in settlement["terms"].items():
        payoff = md_text(_fmt(settlement["payoffs"].get(who, "-")))
        lines.append(f"- {md_text(who)}: {md_text(term)} (payoff {payoff})")
    lines += ["", "## Parties and claims", "", "| party | name | BATNA | claim |", "|---|---|---|---|"]
    for p in memo["parties"]:
        lines.append(f"| {md_text(p['id'])} | {md_text(p['name'])} | {md_text(_fmt(p['batna']))} "
                     f"| {md_text(p['claim'])} |")
    lines += ["", "## Evidence", "", "| id | party | title | CID | closest precedent (similarity) |",
              "|---|---|---|---|---|"]
    for e in memo["evidence"]:
        best = e["closest_precedents"][0] if e["closest_precedents"] else None
        near = f"{md_text(best['precedent_id'])} ({best['similarity']:.3f})" if best else "-"
        lines.append(f"| {md_text(e['id'])} | {md_text(e['party'])} | {md_text(e['title'])} "
                     f"| {md_code(e['cid'], in_table=True)} | {near} |")
    lines += ["", "## Precedents revealed by the tenant", ""]
    if memo["precedents"]:
        lines += ["| rank | precedent | source | encrypted-search score |", "|---|---|---|---|"]
        for rank, p in enumerate(memo["precedents"], start=1):
            lines.append(f"| {rank} | {md_text(p['precedent_id'])} | {md_text(p.get('license_name', ''))} "
                         f"| {p['score']:.4f} |")
    else:
        lines.append("No precedent search was requested by the tenant.")
    lines += _negotiation_section(memo)
    diagram = memo["influence_diagram"]
    mermaid = diagram.get("mermaid", "")
    fence = md_fence(mermaid)  # a label cannot close the block early
    lines += ["", "## Causal influence diagram", "", f"Image CID {md_code(diagram.get('png_cid', '-'))}.",
              "", f"{fence}mermaid", mermaid, fence, "", "## Receipts so far", ""]
    lines += [f"{i}. {md_code(cid)}" for i, cid in enumerate(memo["receipts"])]
    return "\n".join(lines) + "\n"


def _negotiation_section(memo: dict[str, Any]) -> list[str]:
    neg = as_result(memo["negotiation"])
    lines = ["", "## How the settlement was chosen", "", f"Rule: {md_text(memo['rule_text'])}.", ""]
    if neg.search is not None:
        lines += _equilibria_table(neg)
        lines += ["", _search_sentence(neg.search)]
    for note in neg.notes:
        lines.append(f"- {md_text(note)}")
    lines += ["", "## BATNA comparison", ""] + _batna_lines(memo)
    return lines


def _equilibria_table(neg: NegotiationResult) -> list[str]:
    if not neg.equilibria:
        return ["No equilibrium was found."]
    rule = neg.rule
    lines = [(f"| # | row strategy | column strategy | payoffs | at least BATNA | {md_text(rule)} "
              "welfare | why it lost |"),
             "|---|---|---|---|---|---|---|"]
    candidates = {c.index: c for c in neg.candidates}
    for i, eq in enumerate(neg.equilibria):
        c = candidates.get(i)
        value = c.welfare.get(rule, "-") if c else "-"
        why = "selected" if i == neg.selected else (c.lost_because or c.reason if c else "")
        lines.append(
            f"| {i} | {[round(x, 4) for x in eq.row_strategy]} | {[round(x, 4) for x in eq.col_strategy]} "
            f"| {[round(x, 4) for x in eq.payoffs]} | {c.admissible if c else '-'} | {_fmt(value)} "
            f"| {md_text(why)} |"
        )
    return lines


def _search_sentence(search: EquilibriumSearch) -> str:
    """What the equilibrium search established, and no more."""
    methods = ", ".join(search.methods) or "no method"
    if search.complete:
        return (f"The search finished a complete enumeration ({methods}): these are all the "
                "extreme equilibria of the game.")
    if search.timed_out:
        return (f"The search stopped at its time limit before a complete enumeration finished; the "
                f"equilibria above come from the methods that did ({methods}), and others may exist.")
    return (f"No complete enumeration ran for a game of this size; the equilibria above come from "
            f"{methods}, and others may exist.")


def _batna_lines(memo: dict[str, Any]) -> list[str]:
    comparison, outcome = memo["batna_comparison"], memo["settlement"]["outcome"]
    parties = comparison["parties"]
    if outcome == "no_agreement":
        kept = ", ".join(f"{md_text(p)} {_fmt(v['batna'])}" for p, v in parties.items())
        return [("No lottery over the outcomes gives every party more than its BATNA, so there is no "
                f"agreement: each party keeps its BATNA ({kept}).")]
    lines = []
    if outcome == "equilibrium":
        admissible = ", ".join(f"#{i}" for i in comparison["admissible_equilibria"])
        lines.append(f"Equilibria giving every party at least its BATNA: {admissible}; the rule chose "
                     "among these.")
        lines += _against_batna(memo, admissible=True) + _against_batna(memo, admissible=False)
    elif memo["negotiation"]["game"] == "bimatrix" and not memo["negotiation"]["equilibria"]:
        lines.append("No equilibrium was found within the time limit, so the settlement is the "
                     "Nash bargaining solution over lotteries of the outcomes.")
    elif memo["negotiation"]["game"] == "bimatrix":
        found = "" if memo["negotiation"]["search"]["complete"] else " found"
        lines.append(f"No equilibrium{found} gives every party at least its BATNA, so the settlement is the "
                     "Nash bargaining solution over lotteries of the outcomes.")
        lines += _against_batna(memo, admissible=False)
    else:
        lines.append("The settlement is the Nash bargaining solution over lotteries of the joint "
                     "outcomes.")
    lines += ["", "| party | BATNA | settlement payoff | gain |", "|---|---|---|---|"]
    for party, v in parties.items():
        lines.append(f"| {md_text(party)} | {_fmt(v['batna'])} | {_fmt(v['settlement_payoff'])} "
                     f"| {_fmt(v['gain'])} |")
    return lines


def _against_batna(memo: dict[str, Any], *, admissible: bool) -> list[str]:
    """Each equilibrium that meets (or misses) the BATNAs, with the payoffs compared."""
    neg = memo["negotiation"]
    parties, batna = neg["parties"], neg["batna"]
    lines = []
    for c in neg["candidates"]:
        if c["admissible"] != admissible:
            continue
        payoffs = neg["equilibria"][c["index"]]["payoffs"]
        if admissible:
            met = ", ".join(f"{md_text(p)} {_fmt(u)} >= BATNA {_fmt(batna[p])}"
                            for p, u in zip(parties, payoffs))
            lines.append(f"Equilibrium #{c['index']} gives {met}.")
        else:
            short = "; ".join(f"{md_text(p)} gets {_fmt(u)} < BATNA {_fmt(batna[p])}"
                              for p, u in zip(parties, payoffs) if u < batna[p])
            lines.append(f"Equilibrium #{c['index']} is below BATNA: {short}.")
    return lines
