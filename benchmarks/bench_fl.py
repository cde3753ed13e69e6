"""Rounds to target accuracy per aggregation rule, clean and with one Byzantine firm of five.

Embedded simulation (Flower's server loop in process), 5 non-IID firms of 400 rows (2000
for the DP rows), the
settlement-acceptance logistic regression, one local epoch a round. Attack rows put the
attacker at firm 2. Rows without DP isolate the aggregation rules; the DP rows (full run
only) add DP-SGD with noise 1.1 and clip 1.0 and report each firm's epsilon after the run
(delta 1e-5).
`rounds_to_target` is the first round whose global accuracy on held-out rows reaches
TARGET ("-" = never within the run); `final_accuracy` is the mean of the last 3 rounds.
Two reference rows on the same held-out rows: `pooled` trains the same model with plain
SGD on every firm's rows put together (what federation tries to match, one epoch per
round for as many epochs as the runs have rounds), and `majority class` always predicts
the more common label of the pooled training rows (what any model must beat).
"""

from __future__ import annotations

import logging
import time

import flwr.common.logger  # noqa: F401  (configures the flwr logger, quieted below)
import numpy as np
import torch

from dalrn_core.fl.attacks import ATTACKS, Attack
from dalrn_core.fl.data import make_silos, make_test_set, to_arrays
from dalrn_core.fl.model import build_model, evaluate
from dalrn_core.fl.privacy import epsilon
from dalrn_core.fl.simulation import SimulationConfig, run_simulation
from dalrn_core.fl.strategies import STRATEGIES
from dalrn_core.fl.training import SiloTrainConfig, local_train

TARGET = 0.83
PARAMETERS = {"target_accuracy": TARGET, "firms": 5, "byzantine_firm": 2, "seed": 0,
              "rounds": {"full": 20, "quick": 10}, "rows_per_firm": {"attack rows": 400, "dp rows": 2000},
              "dp": {"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5},
              "attacks": {"sign_flip_factor": Attack("sign_flip").factor,
                          "scaling_factor": Attack("scaling").factor,
                          "gaussian_noise_sigma": Attack("gaussian_noise").sigma},
              "trimmed_mean_beta": SimulationConfig().beta, "krum_f": SimulationConfig().f,
              "multi_krum_m": 5 - SimulationConfig().f}


def _reference_rows(rounds: int, n_rows: int = 400) -> list[dict]:
    """Pooled training and the majority class, on the simulation's own held-out rows."""
    config = SimulationConfig(method="fedavg", rounds=rounds, n_rows=n_rows)
    pooled = [to_arrays(frame) for frame in make_silos(config.n_silos, config.seed, n_rows)]
    x = np.concatenate([p[0] for p in pooled])
    y = np.concatenate([p[1] for p in pooled])
    x_test, y_test = to_arrays(make_test_set(config.n_silos, config.seed))
    started = time.perf_counter()
    model = build_model(config.hidden, config.seed)
    local_train(model, x, y, SiloTrainConfig(dp=False, local_epochs=rounds), config.seed)
    _, accuracy = evaluate(model, x_test, y_test)
    seconds = time.perf_counter() - started
    majority = float(y.mean() >= 0.5)
    base = {"attack": "none", "dp": False, "rows_per_firm": n_rows, "rounds": rounds,
            "rounds_to_target": "-"}
    return [
        {"method": "pooled", **base, "final_accuracy": round(accuracy, 4), "epsilon": "-",
         "seconds": round(seconds, 2)},
        {"method": "majority class", **base,
         "final_accuracy": round(float(np.mean(y_test == majority)), 4), "epsilon": "-",
         "seconds": 0.0},
    ]


def _row(method: str, attack: str | None, dp: bool, rounds: int, n_rows: int = 400) -> dict:
    config = SimulationConfig(method=method, rounds=rounds, train=SiloTrainConfig(dp=dp), n_rows=n_rows,
                              attack=Attack(attack) if attack else None, byzantine=(2,))
    started = time.perf_counter()
    result = run_simulation(config)
    seconds = time.perf_counter() - started
    reached = result.rounds_to(TARGET)
    last = [row["accuracy"] for row in result.history[-3:]]
    cost = config.train.cost(config.n_rows)
    eps = epsilon(cost.noise_multiplier, cost.sample_rate, cost.steps * rounds, 1e-5) if dp else None
    return {"method": method, "attack": attack or "none", "dp": dp, "rows_per_firm": n_rows,
            "rounds": rounds,
            "rounds_to_target": reached if reached is not None else "-",
            "final_accuracy": round(sum(last) / len(last), 4),
            "epsilon": round(eps, 3) if eps is not None else "-", "seconds": round(seconds, 2)}


def run(quick: bool) -> list[dict]:
    torch.set_num_threads(1)
    logging.getLogger("flwr").setLevel(logging.ERROR)
    rounds = 10 if quick else 20
    rows = _reference_rows(rounds)
    for method in STRATEGIES:
        for attack in (None, *ATTACKS):
            rows.append(_row(method, attack, dp=False, rounds=rounds))
    if not quick:
        for method in STRATEGIES:
            # 2000 rows a firm (q = 0.02), the nightly default: 20 rounds fit in epsilon 4.
            rows.append(_row(method, None, dp=True, rounds=rounds, n_rows=2000))
    return rows
