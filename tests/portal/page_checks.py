"""What the browser test checks on every page it visits, and the README's screenshots.

axe-core's serious and critical findings, the script and console errors a page reports, and
(when DALRN_PORTAL_SCREENSHOTS names a folder) a screenshot in 256 colours.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "portal" / "node_modules" / "axe-core" / "axe.min.js"


def screenshot(page, name: str, *, full: bool = True, part: str | None = None) -> None:
    """A screenshot for the README (the page, its first screen, or one part of it), when asked for."""
    folder = os.environ.get("DALRN_PORTAL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = str(Path(folder) / f"{name}.png")
        if part:
            page.locator(part).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=full)
        _palette(Path(path))


def _palette(path: Path) -> None:
    """256 colours are plenty for these pages and keep the committed screenshots small."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands."""
    page.evaluate(AXE.read_text())  # through the devtools protocol, so the page's CSP does not apply
    found = page.evaluate("async () => (await axe.run(document)).violations"
                          ".filter(v => ['serious', 'critical'].includes(v.impact))"
                          ".map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)")
    return list(found)


def watched(page, problems: list[str]):
    """`page`, with every script error and console error it reports added to `problems`."""
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on("console", lambda message: problems.append(f"{page.url}: {message.text}") if message.type == "error" else None)
    return page
