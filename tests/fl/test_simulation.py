"""The embedded mode end to end: Flower's server loop, DP-SGD clients, the budget ledger."""


from dalrn_core.fl.data import silo_names
from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.privacy import epsilon
from dalrn_core.fl.simulation import SimulationConfig, run_simulation
from dalrn_core.fl.training import SiloTrainConfig

DP = SimulationConfig(n_silos=5, n_rows=400, method="trimmed_mean", train=SiloTrainConfig())


def test_round_over_budget_is_refused_before_training(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.sqlite")  # epsilon 4, delta 1e-5
    cost = DP.train.cost(DP.n_rows)
    # This cost allows exactly two rounds: eps(2 rounds) <= 4 < eps(3 rounds).
    assert epsilon(1.1, cost.sample_rate, 2 * cost.steps, 1e-5) <= 4.0
    assert epsilon(1.1, cost.sample_rate, 3 * cost.steps, 1e-5) > 4.0
    budgeted = run_simulation(SimulationConfig(**{**DP.__dict__, "rounds": 5}), ledger, "t")
    assert budgeted.rounds_done == 2
    assert "tenant[firm-0]" in budgeted.refused
    for tenant in silo_names(5):
        assert [h["round_id"] for h in ledger.history(tenant)] == ["t/round-1", "t/round-2"]
        assert ledger.spent(tenant) <= 4.0
    # Nothing trained in round 3: the model is bit-for-bit the two-round model.
    two_rounds = run_simulation(SimulationConfig(**{**DP.__dict__, "rounds": 2}))
    assert budgeted.model_hash == two_rounds.model_hash
    # And a restarted ledger refuses the very next round too.
    again = run_simulation(SimulationConfig(**{**DP.__dict__, "rounds": 1}),
                           PrivacyLedger(tmp_path / "ledger.sqlite"), "t2")
    assert again.rounds_done == 0 and again.refused


def test_dp_federation_learns():
    result = run_simulation(SimulationConfig(**{**DP.__dict__, "rounds": 3}))
    assert result.history[0]["accuracy"] < 0.4  # the zero model predicts "rejected"
    assert result.history[-1]["accuracy"] > 0.72
    assert result.history[-1]["loss"] < result.history[0]["loss"]
