"""Building the precedent index (the `build_index` flow), with the CLI's own builder.

Encrypted scoring of a tenant's query is in `tasks/precedents.py`.
"""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from dalrn_core.search.build import build_precedent_index
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.index import IndexParams
from tasks.quality import check_table


@task(name="load-precedents", cache_policy=NO_CACHE)
def load_corpus() -> pd.DataFrame:
    """The whole precedent corpus as a table (checked, then cut to a limit, by the build)."""
    return load_precedents()


@task(name="build-index", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def build_index_from(corpus: pd.DataFrame, params: IndexParams, limit: int | None = None) -> str:
    """Check the corpus (quality artifact), embed it (progress artifact), index it; the CID."""
    artifact = create_progress_artifact(0.0, key="embed-precedents",
                                        description="precedent paragraphs embedded")

    def report(done: int, total: int) -> None:
        update_progress_artifact(artifact, 100.0 * done / max(total, 1))

    return build_precedent_index(limit=limit, params=params, progress=report, corpus=corpus,
                                 check=check_table).cid
