"""Party-written text cannot add Markdown or HTML to the memo (issue 13).

A hostile dispute (links, images, raw HTML, a forged heading and table cells in names,
claims, titles and strategy labels) is rendered by an independent CommonMark renderer
(markdown-it-py, with GFM tables): its HTML must have exactly the tags of the same memo with
plain names, and every hostile text must come back as the characters it was written as.
"""

from __future__ import annotations

import copy
import html as html_module
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.dispute.sides import split_dispute
from dalrn_core.explain.diagram import influence_diagram, to_mermaid
from dalrn_core.explain.markdown import md_code, md_fence, md_text
from dalrn_core.explain.memo import build_memo, render_markdown
from dalrn_core.explain.party_view import party_view, render_party_markdown, seal_memo
from dalrn_core.negotiation import settle

markdown_it = pytest.importorskip("markdown_it")  # installed with rich, which Prefect needs

EXAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "supply-contract.json").read_text())

HOSTILE = {
    "name": "Evil](https://evil.example/x) <img src=x onerror=alert(1)>\n# Forged heading",
    "claim": ("![pixel](https://evil.example/t.png) | forged cell | <script>alert(1)</script> "
              "**loud** `code` <https://evil.example> www.evil.example &amp;\r\n## Injected\r```"),
    "title": "[click](javascript:alert(1)) <!-- hidden --> _under_ ~~gone~~",
    "row_strategies": ["<b>cure</b>", "litigate](http://x)\n---"],
    "col_strategies": ["relicense\\", "contest |"],
    "dispute_title": "Title # with <em>html</em> & [ref]: http://x",
}


def _dispute(hostile: bool, joint: bool = False):
    data = copy.deepcopy(EXAMPLE)
    if joint:  # each party files its own side
        data["parties"][0]["tenant"], data["parties"][1]["tenant"] = "acme-legal", "globex-legal"
    if hostile:
        data["title"] = HOSTILE["dispute_title"]
        data["parties"][0]["name"] = HOSTILE["name"]
        data["parties"][1]["claim"] = HOSTILE["claim"]
        data["evidence"][0]["title"] = HOSTILE["title"]
        data["game"]["row_strategies"] = HOSTILE["row_strategies"]
        data["game"]["col_strategies"] = HOSTILE["col_strategies"]
    return parse_dispute(data)


def _memo(dispute):
    graph = influence_diagram(dispute.party_ids, [e.id for e in dispute.evidence], [])
    negotiation = settle(dispute, time_limit_s=5.0)
    memo = build_memo(
        dispute, dispute_cid="bafy-dispute", evidence_cids={e.id: f"bafy-{e.id}" for e in dispute.evidence},
        precedents=[], evidence_relevance={}, negotiation=negotiation,
        diagram={"png_cid": "bafy-png", "mermaid": to_mermaid(graph)}, receipts=["bafy-r0"],
    )
    return memo, negotiation


def _markdown(dispute) -> str:
    return render_markdown(_memo(dispute)[0])


def _joint_markdown(dispute) -> str:
    """The joint memo as the row party reads it (its own side filled in)."""
    memo, negotiation = _memo(dispute)
    _, sides = split_dispute(dispute, salts={p.id: "00" * 32 for p in dispute.parties})
    stored = seal_memo(memo, dispute, negotiation, {p: side.commitment for p, side in sides.items()})
    return render_party_markdown(party_view(stored, {"acme": sides["acme"]}))


def _html(markdown: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


class _Tags(HTMLParser):
    """The start tags of an HTML text, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parsed(markdown: str) -> _Tags:
    parser = _Tags()
    parser.feed(_html(markdown))
    return parser


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]", " ", text)


def test_hostile_text_adds_no_tag_and_reads_as_written():
    plain, hostile = _markdown(_dispute(False)), _markdown(_dispute(True))
    plain_html, hostile_html = _parsed(plain), _parsed(hostile)
    # The same tags, in the same order: no link, image, heading, emphasis, extra cell or
    # raw HTML came from the parties' text.
    assert hostile_html.tags == plain_html.tags
    assert "<a " not in _html(hostile) and "<img" not in _html(hostile)
    assert "<script" not in _html(hostile) and "<b>" not in _html(hostile)
    # Every hostile text comes back, character for character, in its table cell.
    assert _one_line(HOSTILE["name"]) in hostile_html.cells
    assert _one_line(HOSTILE["claim"]) in hostile_html.cells
    assert _one_line(HOSTILE["title"]) in hostile_html.cells
    # Bare URLs are no autolinks for GFM renderers either: the scheme and www are escaped.
    assert "https://evil" not in hostile and "www.evil" not in hostile


def test_hostile_text_adds_no_tag_to_a_partys_view_of_a_joint_memo():
    plain = _parsed(_joint_markdown(_dispute(False, joint=True)))
    hostile_md = _joint_markdown(_dispute(True, joint=True))
    hostile = _parsed(hostile_md)
    assert hostile.tags == plain.tags
    # (the joint memo also folds runs of white space into one)
    assert " ".join(HOSTILE["name"].split()) in hostile.cells
    assert " ".join(HOSTILE["claim"].split()) in hostile.cells
    # The viewer's own payoff table is headed by the hostile strategy labels, as written.
    labels = [*HOSTILE["col_strategies"], " ".join(HOSTILE["row_strategies"][1].split())]
    assert set(labels) <= set(hostile.cells)
    assert "https://evil" not in hostile_md and "www.evil" not in hostile_md


def test_hostile_text_reads_as_written_outside_tables():
    text = html_module.unescape(re.sub(r"<[^>]+>", "", _html(_markdown(_dispute(True)))))
    assert f"Settlement memo: {HOSTILE['dispute_title']}" in text
    assert "accept credit and cure" not in text  # the hostile labels replaced the example's
    assert _one_line(HOSTILE["row_strategies"][0]) in text  # the settlement's terms


@pytest.mark.parametrize(
    "value",
    ["plain", "a`b", "``x``", "`start", "end`", "|pipe|", "line\nbreak\r\nand\u2028more", ""],
)
def test_code_span_holds_any_text(value):
    html = _html(f"x {md_code(value)} y")
    code = re.search(r"<code>(.*?)</code>", html, re.DOTALL)
    assert code is not None
    assert html_module.unescape(code.group(1)).strip() == _one_line(value).replace("\u2028", " ").strip()


def test_fence_is_longer_than_any_backtick_run():
    body = "line\n````\nmore"
    fence = md_fence(body)
    html = _html(f"{fence}mermaid\n{body}\n{fence}\n\n# after")
    assert html.count("<pre>") == 1 and "````" in html and "<h1>after</h1>" in html


def test_md_text_of_every_ascii_character_renders_as_itself():
    every = "".join(chr(c) for c in range(32, 127))
    html = _html(f"| a |\n|---|\n| {md_text(every)} |")
    parser = _Tags()
    parser.feed(html)
    assert parser.cells == ["a", every.strip()]  # a table cell drops its outer spaces
