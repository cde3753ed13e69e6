"""The explanation memo: why this settlement, in JSON for machines and Markdown for people.

The memo states the parties and claims, the evidence (with CIDs), the precedents the tenant
revealed (with scores), every equilibrium found, the selection rule and the welfare numbers
that decided, why each alternative lost, the BATNA check, any fallback or timeout, and the
receipts so far. It is built from plain values so that the same inputs give the same bytes
and the same CID.
"""

from __future__ import annotations

from dalrn_core.dispute.model import Dispute

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


def settlement_terms(dispute: Dispute, negotiation: dict) -> dict:
    """The selected outcome in the parties' own words, with each party's payoff."""
    selected = negotiation.get("selected")
    if selected is None:
        return {"outcome": negotiation["outcome"], "terms": {}, "payoffs": {}}
    if dispute.game is not None and "row_strategy" in selected:
        game = dispute.game
        terms = {
            game.row_party: describe_strategy(game.row_strategies, selected["row_strategy"]),
            game.col_party: describe_strategy(game.col_strategies, selected["col_strategy"]),
        }
        payoffs = dict(zip((game.row_party, game.col_party), selected["payoffs"]))
    else:
        terms = {"agreement": selected.get("description") or selected.get("label", "bargained outcome")}
        payoffs = selected.get("payoffs", {})
        if isinstance(payoffs, list) and dispute.game is not None:
            payoffs = dict(zip((dispute.game.row_party, dispute.game.col_party), payoffs))
    return {"outcome": negotiation["outcome"], "terms": terms, "payoffs": payoffs}


def build_memo(
    dispute: Dispute,
    *,
    dispute_cid: str,
    evidence_cids: dict[str, str],
    precedents: list[dict],
    evidence_relevance: dict[str, list[dict]],
    negotiation: dict,
    diagram: dict,
    receipts: list[str],
    mediator: dict | None = None,
) -> dict:
    """The memo as a JSON-ready dict (see the module docstring for what it holds)."""
    return {
        "version": MEMO_VERSION,
        "dispute_id": dispute.id,
        "dispute_cid": dispute_cid,
        "title": dispute.title,
        "tenant": dispute.tenant,
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
        "negotiation": negotiation,
        "rule_text": RULE_TEXT.get(negotiation.get("rule", ""), negotiation.get("rule", "")),
        "settlement": settlement_terms(dispute, negotiation),
        "batna_check": {p.id: p.batna for p in dispute.parties},
        "influence_diagram": diagram,
        "receipts": receipts,
    }


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(memo: dict) -> str:
    """The memo for people: headings, tables and the diagram in Mermaid."""
    lines = [f"# Settlement memo: {memo['title']}", "",
             f"Dispute `{memo['dispute_id']}` (CID `{memo['dispute_cid']}`), tenant `{memo['tenant']}`."]
    mediator = memo.get("mediator")
    if mediator:
        lines.append(f"Mediated by agent {mediator['agent']} of network `{mediator['network'][:12]}` "
                     f"(predicted latency {mediator['predicted_latency']:.3g}, by {mediator['basis']}).")
    lines.append("")
    settlement = memo["settlement"]
    lines += ["## Outcome", "", f"**{settlement['outcome'].replace('_', ' ')}**", ""]
    for who, term in settlement["terms"].items():
        lines.append(f"- {who}: {term} (payoff {_fmt(settlement['payoffs'].get(who, '-'))})")
    lines += ["", "## Parties and claims", "", "| party | name | BATNA | claim |", "|---|---|---|---|"]
    for p in memo["parties"]:
        lines.append(f"| {p['id']} | {p['name']} | {_fmt(p['batna'])} | {p['claim']} |")
    lines += ["", "## Evidence", "", "| id | party | title | CID | closest precedent (similarity) |",
              "|---|---|---|---|---|"]
    for e in memo["evidence"]:
        best = e["closest_precedents"][0] if e["closest_precedents"] else None
        near = f"{best['precedent_id']} ({best['similarity']:.3f})" if best else "-"
        lines.append(f"| {e['id']} | {e['party']} | {e['title']} | `{e['cid']}` | {near} |")
    lines += ["", "## Precedents revealed by the tenant", ""]
    if memo["precedents"]:
        lines += ["| rank | precedent | source | encrypted-search score |", "|---|---|---|---|"]
        for rank, p in enumerate(memo["precedents"], start=1):
            lines.append(f"| {rank} | {p['precedent_id']} | {p.get('license_name', '')} | {p['score']:.4f} |")
    else:
        lines.append("No precedent search was requested by the tenant.")
    lines += _negotiation_section(memo)
    diagram = memo["influence_diagram"]
    lines += ["", "## Causal influence diagram", "", f"Image CID `{diagram.get('png_cid', '-')}`.", "",
              "```mermaid", diagram.get("mermaid", ""), "```", "", "## Receipts so far", ""]
    lines += [f"{i}. `{cid}`" for i, cid in enumerate(memo["receipts"])]
    return "\n".join(lines) + "\n"


def _negotiation_section(memo: dict) -> list[str]:
    neg = memo["negotiation"]
    lines = ["", "## How the settlement was chosen", "", f"Rule: {memo['rule_text']}.", ""]
    eqs = neg.get("equilibria", [])
    rule = neg.get("rule", "")
    if eqs:
        lines += [f"| # | row strategy | column strategy | payoffs | admissible | {rule} welfare | why it lost |",
                  "|---|---|---|---|---|---|---|"]
        scores = {s.get("index"): s for s in neg.get("scores", [])}
        for i, eq in enumerate(eqs):
            score = scores.get(i, {})
            welfare = score.get("welfare", {})
            value = welfare.get(rule, "-") if isinstance(welfare, dict) else welfare
            why = score.get("lost_because") or score.get("reason") or ("selected" if i == (neg.get("selected") or {}).get("index") else "")
            lines.append(
                f"| {i} | {[round(x, 4) for x in eq['row_strategy']]} | {[round(x, 4) for x in eq['col_strategy']]} "
                f"| {[round(x, 4) for x in eq['payoffs']]} | {score.get('admissible', '-')} | {_fmt(value)} | {why} |"
            )
    else:
        lines.append("No equilibrium was found.")
    for note in neg.get("notes", []):
        lines.append(f"- {note}")
    if neg.get("timed_out"):
        lines.append("- The exact solver hit its time limit; a cheaper method produced the set above.")
    lines += ["", "BATNA check: every admissible outcome gives each party at least " +
              ", ".join(f"{k} {_fmt(v)}" for k, v in memo["batna_check"].items()) + "."]
    return lines
