"""fl_nightly under a Prefect test harness: rounds, artifacts, budget refusal, round numbers."""

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.model import model_hash
from dalrn_core.fl.privacy import epsilon
from dalrn_core.fl.store import current, load_model
from flows.fl_nightly import fl_nightly

SMALL = {"n_silos": 5, "n_rows": 400}  # q = 0.1, 10 steps a round: two rounds fit in eps 4


async def _silo_task_runs(flow_run_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name for r in runs if r.name.startswith("fl-train-silo"))


async def _artifact(key, flow_run_id=None):
    from prefect.client.schemas.filters import ArtifactFilterFlowRunId

    by_run = ArtifactFilterFlowRunId(any_=[flow_run_id]) if flow_run_id else None
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]), flow_run_id=by_run))
    return found


def test_nightly_runs_rounds_publishes_and_stops_at_the_budget(prefect_harness):
    state = fl_nightly(rounds=2, **SMALL, return_state=True)
    first = state.result()
    assert first["round"] == 2 and first["rounds_run"] == 2 and first["refused"] is None
    assert len(first["model_hash"]) == 64
    stored = current()
    assert (stored.round, stored.hash) == (2, first["model_hash"])
    assert model_hash(load_model(first["model_hash"])) == first["model_hash"]
    assert [row["round"] for row in first["history"]] == [1, 2]
    assert first["history"][-1]["accuracy"] > 0.7
    expected = epsilon(1.1, 0.1, 20, 1e-5)
    assert first["epsilon_spent"]["firm-3"] == pytest.approx(expected)
    assert PrivacyLedger().spent("firm-0") == pytest.approx(expected)

    # One task per silo per round.
    assert asyncio.run(_silo_task_runs(state.state_details.flow_run_id)) == sorted(
        f"fl-train-silo-{s}-round-{r}" for s in range(5) for r in (1, 2))

    for key in ("fl-rounds", "fl-accuracy-loss", "fl-privacy-budgets", "fl-nightly-summary"):
        assert asyncio.run(_artifact(key)), key
    image = asyncio.run(_artifact("fl-accuracy-loss"))[0]
    assert image.data.startswith("data:image/png;base64,")

    # The next night: a third round would exceed epsilon 4, so it is refused before
    # training; the global model and its round number stay as they were.
    second = fl_nightly(rounds=1, **SMALL)
    assert second["rounds_run"] == 0 and "tenant[firm-0]" in second["refused"]
    assert (second["round"], second["model_hash"]) == (2, first["model_hash"])
    assert [h["round_id"].rsplit("/", 1)[1] for h in PrivacyLedger().history("firm-0")] == [
        "round-1", "round-2"]  # the refused round wrote nothing


def test_bad_parameters_fail_before_any_work(prefect_harness):
    from dalrn_core.errors import InputError

    with pytest.raises(InputError) as err:
        fl_nightly(method="krum", n_silos=4)
    assert err.value.problems[0].field == "n_silos"
    with pytest.raises(InputError) as err:
        fl_nightly(rounds=0)
    assert err.value.problems[0].field == "rounds"
    with pytest.raises(InputError) as err:
        fl_nightly(method="average")
    assert err.value.problems[0].field == "method"


def test_nightly_round_is_anchored_with_model_hash_and_round(prefect_harness, tmp_path, monkeypatch):
    """The round's receipts are anchored on chain, the contract storing the model's hash
    and the round number, and the whole chain verifies like a dispute's."""
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    from dalrn_core.chain.local import open_embedded_anchor
    from dalrn_core.podp.verify import verify_dispute
    from flows.fl_nightly import fl_nightly

    result = fl_nightly(rounds=1, n_silos=3, n_rows=200)
    anchor = result["anchor"]
    assert anchor["model_hash"] == result["model_hash"] and anchor["fl_round"] == result["round"]
    client = open_embedded_anchor()
    record, model_hash = client.contract.functions.anchorOf(bytes.fromhex(anchor["root"][2:])).call(
        {"from": client.account.address})
    assert model_hash.hex() == result["model_hash"] and record[3] == result["round"]
    assert verify_dispute(result["receipts_chain"])


def test_nightly_without_dp_is_recorded_as_nonprivate_and_says_so(prefect_harness):
    state = fl_nightly(rounds=1, n_silos=3, n_rows=200, dp=False, return_state=True)
    result = state.result()
    assert result["rounds_run"] == 1
    ledger = PrivacyLedger()
    for tenant in ("firm-0", "firm-1", "firm-2"):
        [entry] = ledger.history(tenant)
        assert entry["private"] is False and entry["epsilon_after"] == float("inf")
        assert entry["round_id"].endswith("/round-1")
        assert result["epsilon_spent"][tenant] == float("inf")
    run_id = state.state_details.flow_run_id
    [summary] = asyncio.run(_artifact("fl-nightly-summary", run_id))
    assert "Differential privacy: OFF" in summary.data and "non-private" in summary.data
    [budgets] = asyncio.run(_artifact("fl-privacy-budgets", run_id))
    assert '"inf"' in budgets.data and '"non_private_rounds": 1' in budgets.data
    # The next private night cannot spend a budget that is already gone.
    refused = fl_nightly(rounds=1, n_silos=3, n_rows=200)
    assert refused["rounds_run"] == 0 and "without differential privacy" in refused["refused"]
