"""The causal influence diagram: structure, Mermaid text, deterministic PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from dalrn_core.errors import InputError
from dalrn_core.explain.diagram import influence_diagram, render_png, to_mermaid

PARTIES = ["alice", "bob"]
EVIDENCE = ["bafkreievidenceone", "bafkreievidencetwo"]
PRECEDENTS = ["prec-7"]


def test_node_kinds_and_counts():
    g = influence_diagram(PARTIES, EVIDENCE, PRECEDENTS)
    kinds = nx.get_node_attributes(g, "kind")
    assert sorted(n for n, k in kinds.items() if k == "decision") == [
        "decision:alice",
        "decision:bob",
    ]
    assert sorted(n for n, k in kinds.items() if k == "utility") == ["utility:alice", "utility:bob"]
    assert {n for n, k in kinds.items() if k == "chance"} == {
        "evidence:bafkreievidenceone",
        "evidence:bafkreievidencetwo",
        "precedent:prec-7",
        "settlement",
    }
    assert set(kinds.values()) <= {"decision", "chance", "utility"}


def test_causal_structure():
    g = influence_diagram(PARTIES, EVIDENCE, PRECEDENTS)
    assert nx.is_directed_acyclic_graph(g)
    for party in PARTIES:
        # Information links: each party decides knowing every evidence and precedent node.
        assert set(g.predecessors(f"decision:{party}")) == {f"evidence:{c}" for c in EVIDENCE} | {
            "precedent:prec-7"
        }
        assert set(g.predecessors(f"utility:{party}")) == {"settlement", f"decision:{party}"}
        assert g.out_degree(f"utility:{party}") == 0  # utilities are sinks
    assert {f"decision:{p}" for p in PARTIES} <= set(g.predecessors("settlement"))


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
