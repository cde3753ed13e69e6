"""A run that refused its input is `rejected`, any other unsuccessful run `failed`.

The state messages come from real flow runs on the test Prefect server, read back through
its API as the gateway reads them, so the rule follows what Prefect actually writes.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client

from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.errors import InputError, Problem
from dalrn_core.search.encrypted import RetiredKeyError
from gateway.status import FAILED, REJECTED, failed_or_rejected, rejection_of

pytestmark = pytest.mark.timeout(300)


@task(retries=0)
def intake(dispute: dict) -> None:
    parse_dispute(dispute)


@flow
def invalid_dispute() -> None:
    intake({"id": "acme-1", "title": "t"})  # a task refuses it: the flow fails with its error


@flow
def invalid_reveal() -> None:
    raise InputError([Problem("precedents[0].doc_id", "is not in index bafk...; reveal ids the search returned"),
                      Problem("precedents", "at most 5 (the k of the search)")], subject="tenant reveal")


@flow
def retired_key() -> None:
    raise RetiredKeyError("ab12")  # a subclass with its own constructor, same text shape


@flow
def node_gone() -> None:
    raise ConnectionError("chain node at 127.0.0.1:8545 refused the connection")


@flow
def not_a_rule() -> None:
    int("invalid")  # ValueError: invalid literal ... (the word alone is not a refusal)


@flow(timeout_seconds=1)
def too_slow() -> None:
    for _ in range(50):  # short sleeps: Prefect interrupts a sync flow between them
        time.sleep(0.1)


def _stored(run) -> tuple[str, str | None]:
    """The run's final state as the API gives it back (type, message)."""
    state = run(return_state=True)

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(state.state_details.flow_run_id)

    stored = asyncio.run(read())
    return stored.state.type.value, stored.state.message


def test_runs_that_refused_their_input_are_rejected(prefect_harness):
    kind, message = _stored(invalid_dispute)
    assert failed_or_rejected(kind, message) == REJECTED
    refused = rejection_of(kind, message)
    assert refused.subject == "dispute"
    assert {p.field for p in refused.problems} == {"tenant", "parties", "evidence", "deadline"}
    assert "parties: Field required" in refused.message

    kind, message = _stored(invalid_reveal)
    assert rejection_of(kind, message).problems == [
        Problem("precedents[0].doc_id", "is not in index bafk...; reveal ids the search returned"),
        Problem("precedents", "at most 5 (the k of the search)")]
    kind, message = _stored(retired_key)
    assert rejection_of(kind, message).problems[0].field == "query.key_id"


def test_other_unsuccessful_runs_are_failed(prefect_harness):
    for run in (node_gone, not_a_rule, too_slow):
        kind, message = _stored(run)
        assert kind in ("FAILED", "CRASHED", "CANCELLED") and message
        assert (failed_or_rejected(kind, message), rejection_of(kind, message)) == (FAILED, None), message


def test_only_a_failed_state_can_be_a_rejection():
    text = "Flow run encountered an exception: InputError: invalid dispute:\n  - id: must be an identifier"
    assert failed_or_rejected("FAILED", text) == REJECTED
    assert [failed_or_rejected(kind, text) for kind in ("CRASHED", "CANCELLED", "COMPLETED")] == [FAILED] * 3
    assert failed_or_rejected("FAILED", None) == FAILED
