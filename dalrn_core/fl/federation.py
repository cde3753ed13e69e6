"""One nightly federated round, split into the steps the `fl_nightly` flow runs as tasks.

1. `charge_round`: atomically charge every silo's privacy budget (refuse the round if any
   silo would go over; nothing has trained yet).
2. `train_silo`: each firm's Flower client trains the current global model on its rows.
3. `aggregate_round`: the configured strategy combines the silos' parameters; the result
   is stored by hash and made the current global model with its round number.
4. `evaluate_model`: accuracy and loss of the new global model on held-out rows.

The embedded default generates each firm's rows with `data.make_silos` (seeded); a real
deployment runs `train_silo` inside each firm (a Flower SuperNode), never centrally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from flwr.common import Scalar

from dalrn_core.errors import InputError
from dalrn_core.fl.client import SiloClient
from dalrn_core.fl.config import FederationConfig
from dalrn_core.fl.data import make_silos, make_test_set, to_arrays
from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.model import build_model, evaluate, set_parameters
from dalrn_core.fl.store import current, load_model, promote, save_model
from dalrn_core.fl.strategies import make_strategy
from dalrn_core.fl.training import SiloTrainConfig


class SiloUpdate(TypedDict):
    """One silo's trained parameters as `train_silo` returns them (plain lists, so Prefect
    can pass them between tasks)."""

    silo: str
    parameters: list[list[Any]]  # one nested list of floats per array, in state_dict order
    num_examples: int
    metrics: dict[str, Scalar]


class AggregatedRound(TypedDict):
    """The new global model of a round, as stored and promoted."""

    model_hash: str
    round: int
    metrics: dict[str, Scalar]


class ModelScore(TypedDict):
    """Mean binary cross-entropy and accuracy of a model on held-out rows."""

    loss: float
    accuracy: float


class ModelRef(TypedDict):
    """Which stored model is the global one, and the round that produced it."""

    model_hash: str
    round: int


class SiloBudget(TypedDict):
    """One silo's privacy budget: spent and allowed epsilon, delta, rounds without DP."""

    tenant: str
    epsilon_spent: float
    epsilon_budget: float
    delta: float
    non_private_rounds: int


@dataclass(frozen=True)
class RoundConfig(FederationConfig):
    """Everything that defines a nightly round: the federation and each firm's budget."""

    epsilon_budget: float = 4.0
    delta: float = 1e-5

    def validate(self) -> RoundConfig:
        super().validate()
        return self

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RoundConfig:
        fields = dict(values)
        fields["train"] = SiloTrainConfig(**fields.get("train", {}))
        return cls(**fields)


def check_rounds(rounds: int) -> int:
    """Rounds a night may run: an integer from 1 to 100."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 100:
        raise InputError.one("rounds", "must be an integer between 1 and 100")
    return rounds


def charge_round(config: RoundConfig, round_number: int, run_id: str) -> dict[str, float]:
    """Charge one round's DP cost to every silo at once; BudgetExceeded refuses the round.

    Without DP the round is still recorded, as non-private (epsilon infinite from then on,
    see `PrivacyLedger.record_nonprivate`), and {} is returned: there is no epsilon to
    report for it.
    Returns each silo's epsilon spent after the round.
    """
    ledger = PrivacyLedger(epsilon_budget=config.epsilon_budget, delta=config.delta)
    round_id = f"{run_id}/round-{round_number}"
    if not config.train.dp:
        ledger.record_nonprivate(config.silos, round_id)
        return {}
    return ledger.spend(config.silos, config.train.cost(config.n_rows), round_id)


def silo_table(config: RoundConfig, silo: int) -> pd.DataFrame:
    """Firm `silo`'s private table (the embedded default generates it, seeded)."""
    return make_silos(config.n_silos, config.seed, config.n_rows)[silo]


def train_silo(config: RoundConfig, silo: int, model_hash: str,
               round_number: int) -> SiloUpdate:
    """Run silo `silo`'s Flower client on the stored global model `model_hash`.

    Returns {"silo", "parameters" (nested lists), "num_examples", "metrics"}.
    """
    frame = silo_table(config, silo)
    client = SiloClient(config.silos[silo], frame, config.train, config.hidden, config.seed)
    params, num_examples, metrics = client.fit(load_model(model_hash),
                                               {"server_round": round_number})
    return {"silo": config.silos[silo], "parameters": [p.tolist() for p in params],
            "num_examples": num_examples, "metrics": metrics}


def aggregate_round(config: RoundConfig, results: list[SiloUpdate],
                    round_number: int) -> AggregatedRound:
    """Aggregate the silos' results with the configured strategy, store and promote it.

    Returns {"model_hash", "round", "metrics"}.
    """
    strategy = make_strategy(config.method, beta=config.beta, f=config.f, m=config.m)
    items = [(r["silo"], [np.asarray(p, dtype=np.float32) for p in r["parameters"]],
              int(r["num_examples"]), r["metrics"]) for r in results]
    arrays, metrics = strategy.aggregate_arrays(items)
    if arrays is None:
        raise InputError.one("results", "no silo returned a usable update")
    digest = save_model(arrays)
    promote(round_number, digest)
    return {"model_hash": digest, "round": round_number, "metrics": dict(metrics)}


def evaluate_model(config: RoundConfig, model_hash: str) -> ModelScore:
    """{"loss", "accuracy"} of a stored model on held-out rows from every silo."""
    model = build_model(config.hidden, config.seed)
    set_parameters(model, load_model(model_hash))
    x, y = to_arrays(make_test_set(config.n_silos, config.seed))
    loss, accuracy = evaluate(model, x, y)
    return {"loss": loss, "accuracy": accuracy}


def start(config: RoundConfig) -> ModelRef:
    """The current global model: {"model_hash", "round"} (round 0 on a fresh folder)."""
    model = current(config.hidden, config.seed)
    return {"model_hash": model.hash, "round": model.round}


def budgets(config: RoundConfig) -> list[SiloBudget]:
    """Each silo's epsilon spent and budget, and how many of its rounds had no DP."""
    ledger = PrivacyLedger(epsilon_budget=config.epsilon_budget, delta=config.delta)
    rows: list[SiloBudget] = []
    for tenant in config.silos:
        budget, delta = ledger.budget(tenant)
        rows.append({"tenant": tenant, "epsilon_spent": ledger.spent(tenant),
                     "epsilon_budget": budget, "delta": delta,
                     "non_private_rounds": sum(not h["private"] for h in ledger.history(tenant))})
    return rows
