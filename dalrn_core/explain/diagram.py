"""Causal influence diagram of a settlement decision (networkx), as Mermaid and PNG.

A causal influence diagram (Howard and Matheson 1984; Everitt et al. 2021, "Agent
incentives: a causal perspective") is a DAG with three node kinds. Each edge here is a
dependency of DALRN's computation, nothing more:

- ``chance`` ``game``: the stated payoffs and BATNAs. The equilibrium strategies are
  computed from it (``game -> decision``) and the selection rule measures gains above the
  BATNAs (``game -> settlement``);
- ``decision``: each party's strategy (offer / accept); the selected profile is the
  settlement (``decision -> settlement``);
- ``chance`` ``settlement``: the selected outcome; each party's payoff is read off it
  (``settlement -> utility``);
- ``utility``: each party's payoff;
- ``chance`` evidence (one per evidence id) and precedents (one per revealed precedent):
  they reach only the memo's evidence-to-precedent relevance (``-> relevance``), never the
  negotiation, so no edge leads from them to a decision or the settlement.

`pycid` would model this, but it does not install beside our numpy 2 stack (see
ENVIRONMENT.md), so the graph is a `networkx.DiGraph` with node attributes ``kind``,
``label`` and ``layer`` (0 inputs, 1 decisions, 2 settlement and relevance, 3 utilities).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from dalrn_core.errors import InputError, Problem

KINDS = ("decision", "chance", "utility")
_SUBJECT = "influence diagram input"


def _check_ids(name: str, values: object, *, need_one: bool) -> list[Problem]:
    if not isinstance(values, (list, tuple)):
        return [Problem(name, "must be a list of strings")]
    problems = [
        Problem(f"{name}[{k}]", "must be a non-empty string")
        for k, v in enumerate(values)
        if not isinstance(v, str) or not v.strip()
    ]
    if need_one and not values:
        problems.append(Problem(name, "must name at least one party"))
    seen: set[object] = set()
    for k, v in enumerate(values):
        if v in seen:
            problems.append(Problem(f"{name}[{k}]", f"duplicate {v!r}"))
        seen.add(v)
    return problems


def influence_diagram(
    parties: list[str], evidence_ids: list[str], precedent_ids: list[str]
) -> nx.DiGraph:
    """Build the settlement's causal influence diagram.

    Parameters
    ----------
    parties : list of str
        Party names; one decision and one utility node each.
    evidence_ids : list of str
        Evidence ids; one chance node each.
    precedent_ids : list of str
        Revealed precedent ids; one chance node each.

    Returns
    -------
    networkx.DiGraph
        Node ids ``game``, ``decision:<party>``, ``settlement``, ``utility:<party>``,
        ``evidence:<id>``, ``precedent:<id>`` and (when both of the last two exist)
        ``relevance``; attributes ``kind``, ``label``, ``layer``.
    """
    problems = (
        _check_ids("parties", parties, need_one=True)
        + _check_ids("evidence_ids", evidence_ids, need_one=False)
        + _check_ids("precedent_ids", precedent_ids, need_one=False)
    )
    if problems:
        raise InputError(problems, subject=_SUBJECT)
    g = nx.DiGraph(name="settlement causal influence diagram")
    g.add_node("game", kind="chance", label="stated payoffs\nand BATNAs", layer=0)
    g.add_node("settlement", kind="chance", label="settlement outcome", layer=2)
    g.add_edge("game", "settlement")  # the rule ranks outcomes by gains above BATNA
    for party in parties:
        decision, utility = f"decision:{party}", f"utility:{party}"
        g.add_node(decision, kind="decision", label=f"{party}: offer / accept", layer=1)
        g.add_node(utility, kind="utility", label=f"{party}: payoff", layer=3)
        g.add_edge("game", decision)  # equilibrium strategies are computed from the game
        g.add_edge(decision, "settlement")
        g.add_edge("settlement", utility)
    for cid in evidence_ids:
        g.add_node(f"evidence:{cid}", kind="chance", label=f"evidence\n{cid}", layer=0)
    for pid in precedent_ids:
        g.add_node(f"precedent:{pid}", kind="chance", label=f"precedent\n{pid}", layer=0)
    if evidence_ids and precedent_ids:
        g.add_node("relevance", kind="chance", label="evidence-precedent\nrelevance (memo)", layer=2)
        for node in [*(f"evidence:{c}" for c in evidence_ids), *(f"precedent:{p}" for p in precedent_ids)]:
            g.add_edge(node, "relevance")
    assert nx.is_directed_acyclic_graph(g)
    return g


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; quotes and angle brackets become entity codes.
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", "<br/>")
    )


def to_mermaid(graph: nx.DiGraph) -> str:
    """Mermaid flowchart: decisions as rectangles, chance nodes as ovals, utilities as hexagons.

    Node ids are ``n0, n1, ...`` in a stable order (layer, then id), so any text in a party
    name or CID is only ever inside a quoted label.
    """
    order = sorted(graph.nodes, key=lambda n: (graph.nodes[n].get("layer", 0), str(n)))
    ids = {node: f"n{k}" for k, node in enumerate(order)}
    shapes = {"decision": ('["', '"]'), "chance": ('(["', '"])'), "utility": ('{{"', '"}}')}
    lines = ["flowchart TD"]
    for node in order:
        kind = graph.nodes[node]["kind"]
        if kind not in KINDS:
            raise ValueError(f"node {node!r} has kind {kind!r}; expected one of {KINDS}")
        left, right = shapes[kind]
        lines.append(
            f"    {ids[node]}{left}{_mermaid_text(graph.nodes[node].get('label', str(node)))}{right}"
        )
    for u, v in sorted(graph.edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        lines.append(f"    {ids[u]} --> {ids[v]}")
    for kind in KINDS:
        members = [ids[n] for n in order if graph.nodes[n]["kind"] == kind]
        if members:
            lines.append(f"    class {','.join(members)} {kind}")
    lines += [
        "    classDef decision fill:#dbeafe,stroke:#1d4ed8",
        "    classDef chance fill:#fef9c3,stroke:#a16207",
        "    classDef utility fill:#dcfce7,stroke:#15803d",
    ]
    return "\n".join(lines) + "\n"


def render_png(graph: nx.DiGraph, path: str | Path) -> Path:
    """Draw the diagram to a PNG (matplotlib, Agg backend, fixed layout: same graph, same bytes).

    Uses a `Figure` with its own Agg canvas, not pyplot: no global backend switch, safe in
    worker threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    pos = _layout(graph)
    markers = {
        "decision": ("s", "#dbeafe"),
        "chance": ("o", "#fef9c3"),
        "utility": ("D", "#dcfce7"),
    }
    width = max(
        6.0, 2.2 * max(sum(1 for n in graph if graph.nodes[n]["layer"] == k) for k in range(4))
    )
    fig = Figure(figsize=(min(width, 30.0), 7.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    layer = nx.get_node_attributes(graph, "layer")
    curved = [e for e in graph.edges if layer[e[1]] - layer[e[0]] > 1]
    straight = [e for e in graph.edges if e not in set(curved)]
    for edges, style in ((straight, "arc3"), (curved, "arc3,rad=0.25")):
        # Links that skip a layer curve, so they never hide behind a node in between.
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=sorted(edges),
            ax=ax,
            arrows=True,
            arrowsize=12,
            arrowstyle="-|>",
            edge_color="#64748b",
            node_size=2600,
            connectionstyle=style,
        )
    for kind, (marker, colour) in markers.items():
        nodes = sorted(n for n in graph if graph.nodes[n]["kind"] == kind)
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=nodes,
            node_shape=marker,
            node_color=colour,
            edgecolors="#334155",
            node_size=2600,
            ax=ax,
            label=kind,
        )
    labels = {n: _short(graph.nodes[n].get("label", str(n))) for n in graph}
    nx.draw_networkx_labels(graph, pos, labels=labels, font_size=7, ax=ax)
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=3,
        fontsize=8,
        markerscale=0.3,
        frameon=False,
    )
    ax.set_axis_off()
    fig.tight_layout()
    # No timestamp or software version in the file: the bytes depend on the graph only.
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Layers top to bottom, nodes of a layer spread evenly in insertion order (deterministic:
    networkx's multipartite layout orders a layer by set iteration, which varies by process)."""
    pos: dict[str, tuple[float, float]] = {}
    for layer in sorted({graph.nodes[n]["layer"] for n in graph}):
        members = [n for n in graph if graph.nodes[n]["layer"] == layer]
        for k, node in enumerate(members):
            x = 0.0 if len(members) == 1 else -1.0 + 2.0 * k / (len(members) - 1)
            pos[node] = (x, -float(layer))
    return pos


def _short(label: str, width: int = 24) -> str:
    lines = []
    for line in label.split("\n"):
        lines.append(line if len(line) <= width else line[: width - 3] + "...")
    return "\n".join(lines)
