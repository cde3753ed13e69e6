"""Negotiate: equilibria of the dispute's game, a settlement by the chosen rule."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from dalrn_core.dispute.stages import Intake, Negotiation
from dalrn_core.negotiation import settle


@task(name="negotiate", cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=30),
      timeout_seconds=120)
def negotiate_settlement(intake: Intake, rule: str = "nsw", time_limit_s: float = 5.0) -> Negotiation:
    """Every equilibrium, the selected one and the outcome, for the parsed dispute."""
    result = settle(intake.dispute, rule=rule, time_limit_s=time_limit_s)
    return Negotiation(rule=rule, dispute_cid=intake.dispute_cid, result=result)
