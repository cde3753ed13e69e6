"""Routing: which mediator agent of the live network handles a dispute."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from dalrn_core.soan.routing import MediatorRoute, route_on_current_network


@task(name="route", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def route_to_mediator(dispute_id: str) -> MediatorRoute:
    """The agent for `dispute_id` on the current network (GCN latency, else closed form)."""
    return route_on_current_network(dispute_id)
