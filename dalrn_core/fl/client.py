"""The Flower client of one firm: trains the global model on the firm's private rows.

`SiloClient` is a `flwr.client.NumPyClient`: it receives the global parameters, trains
locally (DP-SGD by default, see `training`), and returns its parameters, the number of
rows it trained on and its metrics. The raw rows never leave the object. A client built
with an `attacks.Attack` plays a Byzantine firm (tests and benchmarks only).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from flwr.client import NumPyClient
from flwr.common import NDArrays, Scalar

from dalrn_core.fl.attacks import Attack
from dalrn_core.fl.data import to_arrays
from dalrn_core.fl.model import (
    build_model,
    evaluate,
    flatten,
    get_parameters,
    set_parameters,
    unflatten,
)
from dalrn_core.fl.training import SiloTrainConfig, TrainResult, local_train


def round_seed(silo_id: str, server_round: int, seed: int) -> int:
    """A seed for (silo, round) that does not depend on thread or process scheduling."""
    digest = hashlib.sha256(f"{seed}/{silo_id}/{server_round}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class SiloClient(NumPyClient):
    """One firm's Flower client.

    Parameters
    ----------
    silo_id : str
        The firm (also its privacy-ledger tenant name).
    frame : pandas.DataFrame
        The firm's private rows (`data.FEATURES` and `data.LABEL`).
    config : SiloTrainConfig
        Local training, including DP-SGD settings.
    hidden : int
        Model shape (0: logistic regression), identical for every party.
    seed : int
        Base seed for batch sampling and DP noise.
    attack : Attack, optional
        Makes this client Byzantine.
    """

    def __init__(self, silo_id: str, frame: pd.DataFrame, config: SiloTrainConfig,
                 hidden: int = 0, seed: int = 0, attack: Attack | None = None) -> None:
        self.silo_id = silo_id
        self.x, self.y = to_arrays(frame)
        self.config = config.validate()
        self.hidden = hidden
        self.seed = seed
        self.attack = attack
        self.last_result: TrainResult | None = None

    def get_parameters(self, config: dict[str, Scalar]) -> NDArrays:
        return get_parameters(build_model(self.hidden, self.seed))

    def fit(self, parameters: NDArrays, config: dict[str, Scalar]
            ) -> tuple[NDArrays, int, dict[str, Scalar]]:
        server_round = int(config.get("server_round", 0))
        seed = round_seed(self.silo_id, server_round, self.seed)
        model = build_model(self.hidden, self.seed)
        set_parameters(model, parameters)
        y = self.attack.poison_labels(self.y) if self.attack else self.y
        result = local_train(model, self.x, y, self.config, seed)
        self.last_result = result
        trained = get_parameters(model)
        if self.attack is not None:
            update = flatten(trained) - flatten(parameters)
            poisoned = self.attack.poison_update(update, np.random.default_rng(seed))
            trained = unflatten(flatten(parameters) + poisoned, parameters)
        metrics: dict[str, Scalar] = {"loss": float(result.loss), "steps": int(result.steps),
                                      "sample_rate": float(result.sample_rate),
                                      "silo": self.silo_id}
        return trained, len(self.x), metrics

    def evaluate(self, parameters: NDArrays, config: dict[str, Scalar]
                 ) -> tuple[float, int, dict[str, Scalar]]:
        model = build_model(self.hidden, self.seed)
        set_parameters(model, parameters)
        loss, accuracy = evaluate(model, self.x, self.y)
        return loss, len(self.x), {"accuracy": accuracy}
