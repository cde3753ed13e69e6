"""The causal influence diagram: structure, Mermaid text, deterministic PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import networkx as nx
import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.explain import diagram
from dalrn_core.explain.diagram import influence_diagram, png_bytes, render_png, to_mermaid

PARTIES = ["alice", "bob"]
EVIDENCE = ["bafkreievidenceone", "bafkreievidencetwo"]
PRECEDENTS = ["prec-7"]


def test_node_kinds_and_counts():
    g = influence_diagram(PARTIES, EVIDENCE, PRECEDENTS)
    kinds = nx.get_node_attributes(g, "kind")
    assert sorted(n for n, k in kinds.items() if k == "decision") == ["decision:alice", "decision:bob"]
    assert sorted(n for n, k in kinds.items() if k == "utility") == ["utility:alice", "utility:bob"]
    assert {n for n, k in kinds.items() if k == "chance"} == {
        "game", "settlement", "relevance",
        "evidence:bafkreievidenceone", "evidence:bafkreievidencetwo", "precedent:prec-7",
    }


def test_every_edge_is_a_dependency_of_the_computation():
    g = influence_diagram(PARTIES, EVIDENCE, PRECEDENTS)
    expected = {("game", "settlement")}
    for party in PARTIES:
        # settle() computes the equilibrium strategies from the game, the selected profile
        # is the settlement, and each payoff is read off the settlement.
        expected |= {("game", f"decision:{party}"), (f"decision:{party}", "settlement"),
                     ("settlement", f"utility:{party}")}
    # Evidence and precedents reach only the memo's relevance table, never the negotiation.
    expected |= {(f"evidence:{c}", "relevance") for c in EVIDENCE} | {("precedent:prec-7", "relevance")}
    assert set(g.edges) == expected
    assert nx.is_directed_acyclic_graph(g)
    inputs = {f"evidence:{c}" for c in EVIDENCE} | {"precedent:prec-7"}
    assert not any(nx.has_path(g, node, "settlement") for node in inputs)


def test_no_relevance_node_without_precedents():
    g = influence_diagram(PARTIES, EVIDENCE, [])
    assert "relevance" not in g
    assert all(g.degree(f"evidence:{c}") == 0 for c in EVIDENCE)


def test_mermaid_has_every_node_and_edge_with_safe_ids():
    g = influence_diagram(['o"brien <x>', "bob"], EVIDENCE, [])
    text = to_mermaid(g)
    assert text.startswith("flowchart TD\n")
    assert sum(1 for line in text.splitlines() if "-->" in line) == g.number_of_edges()
    assert "#quot;" in text and "#lt;x#gt;" in text and '"brien' not in text
    assert "class " in text and "{{" in text and '(["' in text
    assert to_mermaid(g) == text  # stable


def test_png_is_deterministic_across_processes(tmp_path):
    path = render_png(influence_diagram(PARTIES, EVIDENCE, PRECEDENTS), tmp_path / "a.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(path)  # decodes the whole file: a truncated PNG raises here
    # 6 inches high; 2.2 inches per node of the widest layer (game, two evidence, one
    # precedent), at 100 dpi
    assert image.shape[:2] == (600, 880)
    pixels = image[..., :3].reshape(-1, 3)
    # drawn, not blank: the node fill colours and the edge grey are all present
    colours = {tuple(round(float(c) * 255) for c in px) for px in np.unique(pixels, axis=0)}
    for fill in ((0xdb, 0xea, 0xfe), (0xfe, 0xf9, 0xc3), (0xdc, 0xfc, 0xe7)):
        assert fill in colours
    assert (pixels.min(axis=1) < 0.5).mean() > 0.005  # dark ink: labels, outlines, arrows
    # Same graph in another interpreter with another hash seed: the same bytes (stored by CID).
    code = (
        "from dalrn_core.explain.diagram import influence_diagram, render_png;"
        f"render_png(influence_diagram({PARTIES!r}, {EVIDENCE!r}, {PRECEDENTS!r}), {str(tmp_path / 'b.png')!r})"
    )
    env = dict(
        os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(Path(__file__).resolve().parents[2])
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert (tmp_path / "b.png").read_bytes() == data


def test_png_is_drawn_once_per_structure():
    diagram._draw.cache_clear()
    first = png_bytes(influence_diagram(PARTIES, EVIDENCE, PRECEDENTS))
    # The same structure built again (another graph object): the same bytes, not drawn again.
    assert png_bytes(influence_diagram(PARTIES, EVIDENCE, PRECEDENTS)) == first
    assert diagram._draw.cache_info().misses == 1
    # Another party name is another picture.
    other = png_bytes(influence_diagram(["alice", "carol"], EVIDENCE, PRECEDENTS))
    assert other != first and diagram._draw.cache_info().misses == 2
    # Insertion order places nodes in a layer, so it is part of the structure.
    swapped = png_bytes(influence_diagram(["bob", "alice"], EVIDENCE, PRECEDENTS))
    assert swapped != first


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (([], EVIDENCE, PRECEDENTS), "parties"),
        ((["a", "a"], EVIDENCE, PRECEDENTS), "parties[1]"),
        ((["a", ""], EVIDENCE, PRECEDENTS), "parties[1]"),
        ((["a"], "cid", PRECEDENTS), "evidence_ids"),
        ((["a"], EVIDENCE, [3]), "precedent_ids[0]"),
    ],
)
def test_bad_input(args, field):
    with pytest.raises(InputError) as excinfo:
        influence_diagram(*args)
    assert field in [p.field for p in excinfo.value.problems]
