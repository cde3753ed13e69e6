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

import io
import re
from functools import lru_cache
from pathlib import Path

import networkx as nx

# Imported with the module, not on the first drawing: a dispute worker loads these once at
# start (about 0.4 s), not inside its first dispute.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dalrn_core.errors import InputError, Problem

KINDS = ("decision", "chance", "utility")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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


# Every line break Markdown or Mermaid may honour: a label must never start a new line of
# the fenced block it sits in (a line of backticks there would close the fence).
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; quotes, angle brackets and backticks become entity codes,
    # other control characters spaces.
    text = (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("`", "#96;")
    )
    return _CONTROL.sub(" ", _LINE_BREAK.sub("<br/>", text))


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


# How each kind is drawn: matplotlib marker, fill, and the distance in points from the
# node's centre to its outline where arrows meet it (the diamond reaches further).
_NODE_SIZE = 2600  # marker area in points^2: a circle 51 pt across
_STYLE = {
    "decision": ("s", "#dbeafe", _NODE_SIZE**0.5 / 2),
    "chance": ("o", "#fef9c3", _NODE_SIZE**0.5 / 2),
    "utility": ("D", "#dcfce7", (2 * _NODE_SIZE) ** 0.5 / 2),
}
_HEIGHT_IN = 6.0
_AXES_TOP = 0.93  # the legend sits above the axes
_PAD_IN = (0.75, 0.55)  # half a 24-character label across, half a diamond up and down

# A node as drawn: (id, kind, label, layer); a diagram's structure is its nodes in insertion
# order (the layout follows it) and its sorted edges.
Structure = tuple[tuple[tuple[str, str, str, int], ...], tuple[tuple[str, str], ...]]


def structure_of(graph: nx.DiGraph) -> Structure:
    """Everything the picture depends on, as a hashable value."""
    nodes = tuple(
        (str(n), graph.nodes[n]["kind"], graph.nodes[n].get("label", str(n)), graph.nodes[n]["layer"])
        for n in graph
    )
    return nodes, tuple(sorted((str(u), str(v)) for u, v in graph.edges))


def png_bytes(graph: nx.DiGraph) -> bytes:
    """The diagram as PNG bytes; drawn once per distinct structure in this process.

    Disputes between the same parties with the same evidence ids share a diagram, and a
    retried stage draws nothing again.
    """
    return _draw(structure_of(graph))


def render_png(graph: nx.DiGraph, path: str | Path) -> Path:
    """Write the diagram's PNG (`png_bytes`) to ``path``."""
    path = Path(path)
    path.write_bytes(png_bytes(graph))
    return path


@lru_cache(maxsize=128)  # about 60 kB a picture
def _draw(structure: Structure) -> bytes:
    """Draw a structure (matplotlib, Agg canvas, fixed layout: same structure, same bytes).

    A `Figure` with its own Agg canvas, not pyplot (nor networkx's drawing helpers, which
    import pyplot): no global backend switch, safe in worker threads. Fixed margins instead
    of ``tight_layout``, which would draw the figure once more to measure it.
    """
    nodes, edges = structure
    kind = {n: k for n, k, _, _ in nodes}
    layer = {n: k for n, _, _, k in nodes}
    pos = _layout([(n, k) for n, _, _, k in nodes])
    widest = max(sum(1 for n in nodes if n[3] == k) for k in set(layer.values()))
    width = min(max(6.0, 2.2 * widest), 30.0)
    fig = Figure(figsize=(width, _HEIGHT_IN), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, _AXES_TOP))
    ax.set_axis_off()
    # Data limits that leave _PAD_IN inches around the outermost nodes (x spans [-1, 1],
    # y spans [-last layer, 0]).
    depth = max(max(layer.values()), 1)
    pad_x = 2 * _PAD_IN[0] / (width - 2 * _PAD_IN[0])
    pad_y = depth * _PAD_IN[1] / (_HEIGHT_IN * _AXES_TOP - 2 * _PAD_IN[1])
    ax.set_xlim(-1 - pad_x, 1 + pad_x)
    ax.set_ylim(-depth - pad_y, pad_y)
    for u, v in edges:
        # Links that skip a layer curve, so they never hide behind a node in between.
        style = "arc3,rad=0.25" if layer[v] - layer[u] > 1 else "arc3"
        arrow = {"arrowstyle": "-|>", "color": "#64748b", "mutation_scale": 12,
                 "shrinkA": _STYLE[kind[u]][2] + 2, "shrinkB": _STYLE[kind[v]][2] + 2,
                 "connectionstyle": style}
        ax.annotate("", xy=pos[v], xytext=pos[u], arrowprops=arrow, zorder=1)
    for name, (marker, colour, _) in _STYLE.items():
        members = sorted(n for n, k, _, _ in nodes if k == name)
        ax.scatter([pos[n][0] for n in members], [pos[n][1] for n in members], s=_NODE_SIZE,
                   marker=marker, c=colour, edgecolors="#334155", zorder=2, label=name)
    for n, _, label, _ in nodes:
        ax.text(*pos[n], _short(label), ha="center", va="center", fontsize=7, zorder=3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8,
              markerscale=0.3, frameon=False)
    out = io.BytesIO()
    # No timestamp or software version in the file: the bytes depend on the structure only.
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _layout(nodes: list[tuple[str, int]]) -> dict[str, tuple[float, float]]:
    """Layers top to bottom, nodes of a layer spread evenly in insertion order (deterministic:
    networkx's multipartite layout orders a layer by set iteration, which varies by process)."""
    pos: dict[str, tuple[float, float]] = {}
    for layer in sorted({k for _, k in nodes}):
        members = [n for n, k in nodes if k == layer]
        for k, node in enumerate(members):
            x = 0.0 if len(members) == 1 else -1.0 + 2.0 * k / (len(members) - 1)
            pos[node] = (x, -float(layer))
    return pos


def _short(label: str, width: int = 24) -> str:
    lines = []
    for line in label.split("\n"):
        lines.append(line if len(line) <= width else line[: width - 3] + "...")
    return "\n".join(lines)
