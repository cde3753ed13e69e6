"""What a federated night records in the metric catalogue: round, accuracy, privacy budgets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from dalrn_core.observability import metrics


def record_federation(model_round: int, accuracy: float | None, rounds_run: int,
                      budgets: Iterable[Mapping[str, Any]]) -> None:
    """The global model's round and accuracy, and each tenant's epsilon spent and left.

    A tenant that trained without differential privacy has spent an infinite epsilon and has
    none left: the gauges say +Inf and 0, as the privacy ledger does.
    """
    metrics.FL_ROUND.set(model_round)
    if rounds_run > 0:
        metrics.FL_ROUNDS.inc(rounds_run)
    if accuracy is not None:
        metrics.FL_ACCURACY.set(accuracy)
    for budget in budgets:
        tenant, spent = str(budget["tenant"]), float(budget["epsilon_spent"])
        metrics.FL_EPSILON_SPENT.labels(tenant).set(spent)
        left = float(budget["epsilon_budget"]) - spent
        metrics.FL_EPSILON_REMAINING.labels(tenant).set(max(left, 0.0) if math.isfinite(left) else 0.0)
