"""Rounds to target accuracy per aggregation rule, clean and with one Byzantine firm of five.

Embedded simulation (Flower's server loop in process), 5 non-IID firms of 400 rows (2000
for the DP rows), the
settlement-acceptance logistic regression, one local epoch a round. Attack rows put the
attacker at firm 2. Rows without DP isolate the aggregation rules; the DP rows (full run
only) add DP-SGD with noise 1.1 and clip 1.0 and report each firm's epsilon after the run
(delta 1e-5).
`rounds_to_target` is the first round whose global accuracy on held-out rows reaches
TARGET ("-" = never within the run); `final_accuracy` is the mean of the last 3 rounds.
"""

from __future__ import annotations

import logging
import time

import flwr.common.logger  # noqa: F401  (configures the flwr logger, quieted below)
import torch

from dalrn_core.fl.attacks import ATTACKS, Attack
from dalrn_core.fl.privacy import epsilon
from dalrn_core.fl.simulation import SimulationConfig, run_simulation
from dalrn_core.fl.strategies import STRATEGIES
from dalrn_core.fl.training import SiloTrainConfig

TARGET = 0.83


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
    rows = []
    for method in STRATEGIES:
        for attack in (None, *ATTACKS):
            rows.append(_row(method, attack, dp=False, rounds=rounds))
    if not quick:
        for method in STRATEGIES:
            # 2000 rows a firm (q = 0.02), the nightly default: 20 rounds fit in epsilon 4.
            rows.append(_row(method, None, dp=True, rounds=rounds, n_rows=2000))
    return rows
