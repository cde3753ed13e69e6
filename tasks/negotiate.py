"""Negotiate: equilibria of the dispute's game, a settlement by the chosen rule."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.negotiation.settle import settle


@task(name="negotiate", cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=30),
      timeout_seconds=120)
def negotiate_settlement(dispute: dict, rule: str = "nsw", time_limit_s: float = 5.0) -> dict:
    """The negotiation result as JSON: every equilibrium, the selected one, the outcome."""
    return settle(parse_dispute(dispute), rule=rule, time_limit_s=time_limit_s)
