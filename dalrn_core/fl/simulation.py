"""In-process federated simulation with Flower's own server loop (the embedded default).

Flower 1.32's `flwr.simulation.run_simulation` runs ClientApps only through its Ray
backend, and Ray is not installed here (nor wanted: it starts a cluster of processes). So
the embedded mode uses the parts of Flower that need no transport: the real
`flwr.server.Server` round loop, `SimpleClientManager`, our strategies, and our
`NumPyClient`s, connected by `InProcessClientProxy`, a `ClientProxy` that hands Flower's
messages (FitIns, EvaluateIns, ...) straight to the client object in the same process, the
way Flower's Ray proxy hands them to an actor. Clients train in Flower's thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from flwr.common import (
    Code,
    DisconnectRes,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    GetParametersIns,
    GetParametersRes,
    GetPropertiesIns,
    GetPropertiesRes,
    NDArrays,
    ReconnectIns,
    Scalar,
    Status,
    parameters_to_ndarrays,
)
from flwr.server import Server, SimpleClientManager
from flwr.server.client_proxy import ClientProxy

from dalrn_core.errors import InputError
from dalrn_core.fl.attacks import Attack
from dalrn_core.fl.client import SiloClient
from dalrn_core.fl.config import FederationConfig
from dalrn_core.fl.data import make_silos, make_test_set, to_arrays
from dalrn_core.fl.ledger import BudgetExceeded, PrivacyLedger
from dalrn_core.fl.model import (
    RoundMetrics,
    build_model,
    evaluate,
    get_parameters,
    model_hash,
    set_parameters,
)
from dalrn_core.fl.strategies import make_server_strategy


class InProcessClientProxy(ClientProxy):
    """A ClientProxy whose client lives in this process: each call is a method call."""

    def __init__(self, cid: str, client: SiloClient) -> None:
        super().__init__(cid)
        self.client = client.to_client()

    def get_properties(self, ins: GetPropertiesIns, timeout: float | None,
                       group_id: int | None) -> GetPropertiesRes:
        return GetPropertiesRes(Status(Code.OK, ""), {"cid": self.cid})

    def get_parameters(self, ins: GetParametersIns, timeout: float | None,
                       group_id: int | None) -> GetParametersRes:
        return self.client.get_parameters(ins)

    def fit(self, ins: FitIns, timeout: float | None, group_id: int | None) -> FitRes:
        return self.client.fit(ins)

    def evaluate(self, ins: EvaluateIns, timeout: float | None,
                 group_id: int | None) -> EvaluateRes:
        return self.client.evaluate(ins)

    def reconnect(self, ins: ReconnectIns, timeout: float | None,
                  group_id: int | None) -> DisconnectRes:
        return DisconnectRes(reason="in-process client; nothing to disconnect")


@dataclass(frozen=True)
class SimulationConfig(FederationConfig):
    """One federated run: the federation, how many rounds, and an optional attacker."""

    n_rows: int = 400
    method: str = "fedavg"
    rounds: int = 10
    attack: Attack | None = None
    byzantine: tuple[int, ...] = (0,)  # silo indices that run `attack`
    max_workers: int = 1  # Flower's client thread pool; 1 keeps CPU use low and runs exact


@dataclass(frozen=True)
class SimulationResult:
    """Per-round central metrics and the final global model."""

    history: list[RoundMetrics]
    parameters: NDArrays
    model_hash: str
    refused: str | None = None   # why the run stopped early (privacy budget), else None

    @property
    def rounds_done(self) -> int:
        return self.history[-1]["round"] if self.history else 0

    def rounds_to(self, accuracy: float) -> int | None:
        """First round whose global accuracy reaches `accuracy` (None if never)."""
        for row in self.history:
            if row["round"] > 0 and row["accuracy"] >= accuracy:
                return row["round"]
        return None


def run_simulation(config: SimulationConfig, ledger: PrivacyLedger | None = None,
                   run_id: str = "simulation") -> SimulationResult:
    """Run `config.rounds` federated rounds in this process with Flower's Server.

    With a `ledger` (and DP training), every round first charges every silo's privacy
    budget atomically; a round that would exceed a budget is refused before any client
    trains, the run stops there, and the result holds the rounds done and `refused`.
    """
    if config.rounds < 1:
        raise InputError.one("rounds", "must be >= 1")
    config.validate()
    frames = make_silos(config.n_silos, config.seed, config.n_rows)
    x_test, y_test = to_arrays(make_test_set(config.n_silos, config.seed))
    names = config.silos
    manager = SimpleClientManager()
    for i, (name, frame) in enumerate(zip(names, frames)):
        attack = config.attack if i in config.byzantine else None
        client = SiloClient(name, frame, config.train, config.hidden, config.seed, attack)
        manager.register(InProcessClientProxy(name, client))

    history: list[RoundMetrics] = []
    eval_model = build_model(config.hidden, config.seed)

    def evaluate_fn(server_round: int, arrays: NDArrays,
                    _config: dict[str, Scalar]) -> tuple[float, dict[str, Scalar]]:
        set_parameters(eval_model, arrays)
        loss, accuracy = evaluate(eval_model, x_test, y_test)
        history.append({"round": server_round, "loss": loss, "accuracy": accuracy})
        return loss, {"accuracy": accuracy}

    strategy = make_server_strategy(
        config.method, n_silos=config.n_silos,
        initial=get_parameters(build_model(config.hidden, config.seed)),
        evaluate_fn=evaluate_fn, beta=config.beta, f=config.f, m=config.m)
    if ledger is not None and config.train.dp:
        cost = config.train.cost(config.n_rows)
        strategy.before_round = lambda r: ledger.spend(names, cost, f"{run_id}/round-{r}")
    server = Server(client_manager=manager, strategy=strategy)
    server.set_max_workers(config.max_workers)
    refused = None
    try:
        server.fit(num_rounds=config.rounds, timeout=None)
    except BudgetExceeded as err:
        refused = str(err)
    final = parameters_to_ndarrays(server.parameters)
    return SimulationResult(history=history, parameters=final, model_hash=model_hash(final),
                            refused=refused)
