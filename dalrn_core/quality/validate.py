"""Checking a pandas table against a great-expectations suite kept in this repository.

A failed suite raises `DataQualityError` carrying the report (which expectation, how many
rows broke it, a sample), so a run stops before bad data reaches an index or a model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

SUITES = Path(__file__).resolve().parent / "suites"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list[Any]


class DataQualityError(ValueError):
    """A table failed its suite; `outcomes` lists every expectation's result."""

    def __init__(self, suite: str, outcomes: list[ExpectationOutcome]) -> None:
        self.suite, self.outcomes = suite, outcomes
        failed = [o for o in outcomes if not o.success]
        lines = [f"  - {o.expectation}" + (f" on {o.column}" if o.column else "")
                 + (f": {o.unexpected_count} rows, e.g. {o.sample}" if o.unexpected_count else "")
                 for o in failed]
        super().__init__(f"data quality suite {suite!r} failed {len(failed)} of {len(outcomes)} expectations:\n"
                         + "\n".join(lines))


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES.glob("*.json"))


@cache
def _context() -> Any:
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    # great-expectations takes the plain mapping its config files hold; its stub says the model.
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
    return context


def validate_table(table: pd.DataFrame, suite: str) -> list[ExpectationOutcome]:
    """Validate `table` with the named suite; returns the outcomes or raises DataQualityError."""
    import great_expectations as gx

    spec = json.loads((SUITES / f"{suite}.json").read_text())
    context = _context()
    expectations = [gx.expectations.registry.get_expectation_impl(e["type"])(**e["kwargs"])
                    for e in spec["expectations"]]
    gx_suite = gx.ExpectationSuite(name=f"{suite}-{id(table)}", expectations=expectations)
    source = context.data_sources.add_or_update_pandas(f"dalrn-{suite}")
    asset = source.add_dataframe_asset(f"table-{id(table)}")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": table.astype(object).where(table.notna(), None)}
    )
    result = batch.validate(gx_suite)
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=r.result.get("unexpected_count"),
            sample=list(r.result.get("partial_unexpected_list", [])[:3]),
        )
        for r in result.results
    ]
    if not result.success:
        raise DataQualityError(suite, outcomes)
    return outcomes
