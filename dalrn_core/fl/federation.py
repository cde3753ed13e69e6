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

from dataclasses import asdict, dataclass, field

import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.fl.client import SiloClient
from dalrn_core.fl.data import make_silos, make_test_set, to_arrays
from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.model import build_model, evaluate, set_parameters
from dalrn_core.fl.store import current, load_model, promote, save_model
from dalrn_core.fl.strategies import STRATEGIES, make_strategy
from dalrn_core.fl.training import TrainConfig


@dataclass(frozen=True)
class RoundConfig:
    """Everything that defines a nightly round; plain values so Prefect can pass it."""

    n_silos: int = 5
    seed: int = 0
    n_rows: int = 2000
    method: str = "trimmed_mean"
    beta: float = 0.2
    f: int = 1
    m: int | None = None
    hidden: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    epsilon_budget: float = 4.0
    delta: float = 1e-5

    def validate(self) -> RoundConfig:
        if self.method not in STRATEGIES:
            raise InputError.one("method", f"must be one of {', '.join(STRATEGIES)}")
        if isinstance(self.n_silos, bool) or not isinstance(self.n_silos, int) \
                or not 3 <= self.n_silos <= 64:
            raise InputError.one("n_silos", "must be an integer between 3 and 64")
        if self.method in ("krum", "multi_krum") and self.n_silos <= 2 * self.f + 2:
            raise InputError.one("n_silos", f"{self.method} with f={self.f} needs more than "
                                 f"{2 * self.f + 2} silos")
        self.train.validate()
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RoundConfig:
        values = dict(values)
        values["train"] = TrainConfig(**values.get("train", {}))
        return cls(**values)


def check_rounds(rounds: int) -> int:
    """Rounds a night may run: an integer from 1 to 100."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 100:
        raise InputError.one("rounds", "must be an integer between 1 and 100")
    return rounds


def tenants(config: RoundConfig) -> list[str]:
    """The privacy-ledger tenant of each silo, in silo order."""
    return [f"firm-{i}" for i in range(config.n_silos)]


def charge_round(config: RoundConfig, round_number: int, run_id: str) -> dict[str, float]:
    """Charge one round's DP cost to every silo at once; BudgetExceeded refuses the round.

    Returns each silo's epsilon spent after the round ({} when training without DP).
    """
    if not config.train.dp:
        return {}
    ledger = PrivacyLedger(epsilon_budget=config.epsilon_budget, delta=config.delta)
    cost = config.train.cost(config.n_rows)
    return ledger.spend(tenants(config), cost, f"{run_id}/round-{round_number}")


def silo_table(config: RoundConfig, silo: int):
    """Firm `silo`'s private table (the embedded default generates it, seeded)."""
    return make_silos(config.n_silos, config.seed, config.n_rows)[silo]


def train_silo(config: RoundConfig, silo: int, model_hash: str, round_number: int) -> dict:
    """Run silo `silo`'s Flower client on the stored global model `model_hash`.

    Returns {"silo", "parameters" (nested lists), "num_examples", "metrics"}.
    """
    frame = silo_table(config, silo)
    client = SiloClient(tenants(config)[silo], frame, config.train, config.hidden, config.seed)
    params, num_examples, metrics = client.fit(load_model(model_hash),
                                               {"server_round": round_number})
    return {"silo": tenants(config)[silo], "parameters": [p.tolist() for p in params],
            "num_examples": num_examples, "metrics": metrics}


def aggregate_round(config: RoundConfig, results: list[dict], round_number: int) -> dict:
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


def evaluate_model(config: RoundConfig, model_hash: str) -> dict:
    """{"loss", "accuracy"} of a stored model on held-out rows from every silo."""
    model = build_model(config.hidden, config.seed)
    set_parameters(model, load_model(model_hash))
    x, y = to_arrays(make_test_set(config.n_silos, config.seed))
    loss, accuracy = evaluate(model, x, y)
    return {"loss": loss, "accuracy": accuracy}


def start(config: RoundConfig) -> dict:
    """The current global model: {"model_hash", "round"} (round 0 on a fresh folder)."""
    model = current(config.hidden, config.seed)
    return {"model_hash": model.hash, "round": model.round}


def budgets(config: RoundConfig) -> list[dict]:
    """Each silo's epsilon spent and remaining."""
    ledger = PrivacyLedger(epsilon_budget=config.epsilon_budget, delta=config.delta)
    return [{"tenant": t, "epsilon_spent": ledger.spent(t), "epsilon_budget": ledger.budget(t)[0],
             "delta": ledger.budget(t)[1]} for t in tenants(config)]
