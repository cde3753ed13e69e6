"""Flower strategies, one class per aggregation rule; the math is in `aggregation`.

Each class is a `flwr.server.strategy.FedAvg` (client sampling, configuration and
evaluation unchanged) whose `aggregate_fit` hook flattens every client's parameters into
one vector, applies its rule from `dalrn_core.fl.aggregation`, and reshapes the result.
Results are ordered by client id first, so the outcome never depends on which client
answered first. An update holding NaN or infinity is dropped before aggregating (counted
in the metric `rejected`): a Byzantine client must not be able to crash the round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flwr.common import (
    FitIns,
    FitRes,
    NDArrays,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg

from dalrn_core.errors import InputError
from dalrn_core.fl import aggregation
from dalrn_core.fl.aggregation import Vector
from dalrn_core.fl.model import flatten, unflatten

#: One client's answer as the rule sees it: (client id, parameters, num_examples, metrics).
ClientUpdate = tuple[str, NDArrays, int, dict[str, Scalar]]


class _VectorStrategy(FedAvg):
    """Shared `aggregate_fit`: subclasses define `combine(vectors, num_examples)`."""

    name = "abstract"
    #: Called with the round number before any client is asked to train; it may raise to
    #: refuse the round (the privacy budget check uses this hook).
    before_round: Callable[[int], object] | None = None

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        if self.before_round is not None:
            self.before_round(server_round)
        return super().configure_fit(server_round, parameters, client_manager)

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        raise NotImplementedError

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if not results or (not self.accept_failures and failures):
            return None, {}
        items = [(str(proxy.cid), parameters_to_ndarrays(res.parameters), res.num_examples,
                  dict(res.metrics)) for proxy, res in results]
        arrays, metrics = self.aggregate_arrays(items)
        return (None if arrays is None else ndarrays_to_parameters(arrays)), metrics

    def aggregate_arrays(self, items: list[ClientUpdate]
                         ) -> tuple[NDArrays | None, dict[str, Scalar]]:
        """The rule applied to (client id, parameters, num_examples, metrics) items.

        `aggregate_fit` calls this with what Flower's server collected; the Prefect flow,
        whose silo tasks return the same items, calls it directly.
        """
        ordered = sorted(items, key=lambda item: item[0])
        expected = flatten(ordered[0][1]).size if ordered else 0
        vectors: list[Vector] = []
        sizes: list[int] = []
        kept: list[NDArrays] = []
        for _, params, num_examples, _ in ordered:
            vector = flatten(params)
            if vector.size == expected and np.all(np.isfinite(vector)):
                vectors.append(vector)
                sizes.append(num_examples)
                kept.append(params)
        if not vectors:
            return None, {"rejected": len(ordered)}
        combined = self.combine(vectors, sizes)
        metrics: dict[str, Scalar] = {"rejected": len(ordered) - len(vectors),
                                      "clients": len(vectors)}
        losses = [(n, float(loss)) for _, _, n, m in ordered
                  if isinstance(loss := m.get("loss"), (int, float))]
        if losses:
            metrics["train_loss"] = sum(n * v for n, v in losses) / sum(n for n, _ in losses)
        return unflatten(combined, kept[0]), metrics


class FedAvgStrategy(_VectorStrategy):
    """FedAvg weighted by each client's number of examples (not robust)."""

    name = "fedavg"

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        return aggregation.fedavg(vectors, weights=num_examples)


class MedianStrategy(_VectorStrategy):
    """Coordinate-wise median."""

    name = "median"

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        return aggregation.median(vectors)


class TrimmedMeanStrategy(_VectorStrategy):
    """Coordinate-wise trimmed mean, trimming `beta` of the clients on each side."""

    name = "trimmed_mean"

    def __init__(self, *, beta: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (isinstance(beta, (int, float)) and 0 <= beta < 0.5):
            raise InputError.one("beta", "must be a number with 0 <= beta < 0.5")
        self.beta = float(beta)

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        return aggregation.trimmed_mean(vectors, self.beta)


class KrumStrategy(_VectorStrategy):
    """Krum with `f` tolerated Byzantine clients (needs more than 2f + 2 clients)."""

    name = "krum"

    def __init__(self, *, f: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.f = f

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        return aggregation.krum(vectors, self.f)


class MultiKrumStrategy(_VectorStrategy):
    """Multi-Krum: the mean of the `m` updates with the best Krum scores."""

    name = "multi_krum"

    def __init__(self, *, f: int = 1, m: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.f = f
        self.m = m

    def combine(self, vectors: list[Vector], num_examples: list[int]) -> Vector:
        # Default m = n - f: drop as many updates as there may be attackers.
        m = self.m if self.m is not None else len(vectors) - self.f
        return aggregation.multi_krum(vectors, self.f, m)


STRATEGIES: dict[str, type[_VectorStrategy]] = {
    cls.name: cls for cls in (FedAvgStrategy, MedianStrategy, TrimmedMeanStrategy,
                              KrumStrategy, MultiKrumStrategy)
}


def make_strategy(method: str, *, beta: float = 0.2, f: int = 1, m: int | None = None,
                  **flower_kwargs: Any) -> _VectorStrategy:
    """The strategy registered under `method`, given the rule's own parameters (beta for
    trimmed_mean, f for krum, f and m for multi_krum; ignored by the others) and Flower's
    FedAvg keyword arguments."""
    if method not in STRATEGIES:
        raise InputError.one("method", f"must be one of {', '.join(STRATEGIES)}")
    own: dict[str, dict[str, Any]] = {"trimmed_mean": {"beta": beta}, "krum": {"f": f},
                                      "multi_krum": {"f": f, "m": m}}
    return STRATEGIES[method](**own.get(method, {}), **flower_kwargs)


def make_server_strategy(
        method: str, *, n_silos: int, initial: NDArrays,
        evaluate_fn: Callable[[int, NDArrays, dict[str, Scalar]], tuple[float, dict[str, Scalar]]],
        first_round: int = 0, beta: float = 0.2, f: int = 1, m: int | None = None,
) -> _VectorStrategy:
    """The strategy a federation's server runs, the same in the embedded and cross-silo modes.

    A round starts only when all `n_silos` silos are connected and asks every one of them
    to train; nothing is evaluated on the silos (the server scores the global model with
    `evaluate_fn` on held-out rows); each silo is told the global round number,
    `first_round` + Flower's round, which seeds its batches and DP noise.
    """
    return make_strategy(
        method, beta=beta, f=f, m=m, min_fit_clients=n_silos, min_available_clients=n_silos,
        fraction_evaluate=0.0, evaluate_fn=evaluate_fn,
        on_fit_config_fn=lambda r: {"server_round": first_round + r},
        initial_parameters=ndarrays_to_parameters(initial))
