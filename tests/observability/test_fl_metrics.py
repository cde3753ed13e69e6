"""A federated night sets the round, accuracy and each tenant's epsilon spent and left."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from dalrn_core.fl.privacy import epsilon

pytestmark = [pytest.mark.timeout(600)]


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_nightly_round_sets_round_accuracy_and_budgets(prefect_harness, data_home):
    from flows.fl_nightly import fl_nightly

    rounds_before = _value("dalrn_fl_rounds_total") or 0.0
    result = fl_nightly(rounds=1, n_silos=5, n_rows=400, epsilon_budget=4.0)  # q = 0.1, 10 steps
    assert _value("dalrn_fl_round") == result["round"] == 1
    assert _value("dalrn_fl_rounds_total") == rounds_before + 1
    assert _value("dalrn_fl_accuracy") == pytest.approx(result["history"][-1]["accuracy"])
    spent = epsilon(1.1, 0.1, 10, 1e-5)  # the RDP accountant, computed independently of the flow
    for tenant in result["epsilon_spent"]:
        assert _value("dalrn_fl_epsilon_spent", tenant=tenant) == pytest.approx(result["epsilon_spent"][tenant])
        assert _value("dalrn_fl_epsilon_remaining", tenant=tenant) == pytest.approx(
            4.0 - result["epsilon_spent"][tenant])
    assert all(value == pytest.approx(spent) for value in result["epsilon_spent"].values())
