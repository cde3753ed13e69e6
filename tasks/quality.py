"""Data quality: a great-expectations suite as a task; a failed suite fails the run and
leaves its report in the UI."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dalrn_core.quality.validate import DataQualityError, ExpectationOutcome, validate_table


def _report(suite: str, outcomes: list[ExpectationOutcome]) -> str:
    rows = [f"| {'pass' if o.success else '**FAIL**'} | {o.expectation} | {o.column or ''} | "
            f"{o.unexpected_count if o.unexpected_count is not None else ''} | {o.sample or ''} |"
            for o in outcomes]
    return "\n".join([f"# Data quality: `{suite}`", "", "| result | expectation | column | rows | sample |",
                      "|---|---|---|---|---|", *rows])


@task(name="validate-table", cache_policy=NO_CACHE)
def check_table(table: pd.DataFrame, suite: str) -> int:
    """Validate `table` with the repo's suite `suite`; returns the number of rows checked."""
    try:
        outcomes = validate_table(table, suite)
    except DataQualityError as exc:
        create_markdown_artifact(key=f"quality-{suite.replace('_', '-')}", markdown=_report(suite, exc.outcomes),
                                 description=f"failed data quality suite {suite}")
        raise
    create_markdown_artifact(key=f"quality-{suite.replace('_', '-')}", markdown=_report(suite, outcomes),
                             description=f"data quality suite {suite} passed")
    return len(table)
