"""Text from parties (names, claims, titles, strategy labels) made literal in Markdown.

Everything a party or tenant wrote reaches the memo's Markdown only through `md_text` (or
`md_code` inside a code span), so it renders as the characters it is and can add no link,
image, heading, emphasis, table cell or raw HTML:

- every line break (CR and LF alike, Unicode separators too) and control character becomes
  a space, so the text stays inside its line, list item or table cell;
- ``&``, ``<`` and ``>`` become HTML entities, so no tag, comment or autolink can open;
- every other ASCII punctuation character gets a backslash (CommonMark 0.31, section 2.4:
  any ASCII punctuation may be escaped), so ``[``, ``!``, ``*``, ``|`` and the rest are
  plain characters, and a bare ``https://`` or ``www.`` is no longer an autolink.

Rendered, the text reads exactly as written.
"""

from __future__ import annotations

import re
import string

# Line terminators of CommonMark (CR, LF) and of Unicode, and the other control characters.
_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPED = re.compile("([" + re.escape("".join(c for c in string.punctuation if c not in _ENTITIES)) + "])")
_BACKTICKS = re.compile("`+")


def _one_line(value: object) -> str:
    return _BREAKS_AND_CONTROLS.sub(" ", str(value))


def md_text(value: object) -> str:
    """``value`` as literal inline Markdown text (see the module docstring)."""
    text = _ESCAPED.sub(r"\\\1", _one_line(value))
    return "".join(_ENTITIES.get(c, c) for c in text)


def md_code(value: object, *, in_table: bool = False) -> str:
    """``value`` as one inline code span, whatever backticks it holds.

    The fence is one backtick longer than the longest run inside (CommonMark 6.1), padded
    with a space when the text starts or ends with a backtick. In a table cell ``|`` still
    ends the cell even inside code (GFM 0.29, section 4.10), so ``in_table`` escapes it.
    """
    text = _one_line(value) or " "  # `` is no code span; ` ` is one holding a space
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(text: str) -> str:
    """A code fence longer than any backtick run in ``text``, so ``text`` cannot close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)
