"""docs/deployment: every `dalrn` command it quotes parses, every link and project path exists,
every DALRN_* variable is a setting and every dalrn_* metric is exported."""

import re
import shlex
from pathlib import Path

import pytest

from dalrn_core.observability.metrics import families, metric_names
from deployments.settings_doc import documented_variables
from deployments.validate import _parses_as_dalrn

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "deployment"
PAGES = sorted(DOCS.rglob("*.md"))
REQUIRED = ["README.md", "install-one-host.md", "install-several-hosts.md", "configuration.md", "tls.md",
            "backups.md", "key-rotation.md", "upgrade.md", "troubleshooting.md"]


def quoted_code(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks (continuations joined)."""
    spans = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
    lines = [line for block in spans for line in block.replace("\\\n", " ").splitlines()]
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return lines + inline


def dalrn_commands(text: str) -> list[list[str]]:
    commands = []
    for code in quoted_code(text):
        for part in re.split(r"&&|\||;", code):
            try:
                words = shlex.split(part.strip())
            except ValueError:  # an apostrophe in prose-like code: plain words are enough here
                words = part.split()
            if "dalrn" in words and words.index("dalrn") + 1 < len(words):
                rest = words[words.index("dalrn") + 1:]
                if rest[-1] == "...":
                    continue  # "dalrn admin ...": a family of commands, not one
                commands.append(rest)
    return commands


def command_exists(argv: list[str]) -> str | None:
    """None when `dalrn ARGV` parses, or when ARGV names a command without its arguments
    (`dalrn submit` in a sentence) and `dalrn ARGV --help` answers; else the complaint."""
    complaint = _parses_as_dalrn(argv)
    if complaint is None or (not any(w.startswith("-") for w in argv) and _parses_as_dalrn([*argv, "--help"]) is None):
        return None
    return complaint


def test_every_page_the_guide_promises_exists():
    for name in REQUIRED:
        assert (DOCS / name).exists(), name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_quoted_dalrn_commands_parse(page):
    for argv in dalrn_commands(page.read_text()):
        assert command_exists(argv) is None, f"{page.name}: dalrn {' '.join(argv)}: {command_exists(argv)}"


def test_the_command_check_sees_commands_and_refuses_wrong_ones():
    found = [c for page in PAGES for c in dalrn_commands(page.read_text())]
    assert ["admin", "jwt", "rotate"] in found and ["worker", "--concurrency", "4"] not in found
    assert len(found) >= 10
    assert command_exists(["submit"]) is None and command_exists(["admin", "jwt", "spin"]) is not None
    assert command_exists(["admin", "key", "rotate", "K", "--overlap-days", "3"]) is not None
    assert command_exists(["worker", "--concurency", "4"]) is not None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_links_and_project_paths_exist(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"^[a-z]+://", target):
            assert (page.parent / target).exists(), f"{page.name}: link {target}"
    for path in re.findall(r"`((?:deployments|gateway|dalrn_core|docs|tests)/[^`\s]*)`", text):
        path = path.split("::")[0]  # a test's node id names its file
        if "<" not in path and "/secrets/" not in path:  # secrets are the operator's to create
            assert (ROOT / path).exists(), f"{page.name}: {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_variables_and_metrics_named_exist(page):
    text = page.read_text()
    for variable in set(re.findall(r"\bDALRN_[A-Z0-9_]*[A-Z0-9]\b", text)):
        assert variable in documented_variables(), f"{page.name}: {variable} is no setting"
    exported = set(metric_names()) | {family.name for family in families()}
    for metric in set(re.findall(r"\bdalrn_[a-z0-9_]+\b(?!-)", text)) - {"dalrn_core", "dalrn_cli", "dalrn_gateway"}:
        assert metric in exported, f"{page.name}: {metric} is not exported"
