"""Flower ServerApp and ClientApp for the cross-silo mode (SuperLink and SuperNodes).

The production counterpart of `simulation.py`: a SuperLink runs `server_app` and each
firm runs a SuperNode whose `client_app` trains on that firm's rows. Both are built from
the same pieces as the embedded mode (`SiloClient`, the strategies, the ledger, the model
store). Run configuration (`[tool.flwr.app.config]` of `flower_app/pyproject.toml`, or
`flwr run -c`): rounds, method, seed, n-rows, dp, noise-multiplier, max-grad-norm.
Node configuration (`flower-supernode --node-config`): partition-id, num-partitions.

Each round the ServerApp charges every firm's privacy budget before sampling clients,
and stores and promotes the aggregated model (by hash, with its global round number), so
the newest global model is in `store.current()` on the SuperLink's machine.
"""

from __future__ import annotations

from flwr.app import UserConfig
from flwr.client import Client, ClientApp
from flwr.common import Context, NDArrays, Scalar
from flwr.server import ServerApp, ServerAppComponents, ServerConfig

from dalrn_core.fl.client import SiloClient
from dalrn_core.fl.data import make_silos, make_test_set, silo_name, silo_names, to_arrays
from dalrn_core.fl.ledger import PrivacyLedger
from dalrn_core.fl.model import build_model, evaluate, set_parameters
from dalrn_core.fl.store import current, promote, save_model
from dalrn_core.fl.strategies import make_server_strategy
from dalrn_core.fl.training import SiloTrainConfig


def _train_config(run: UserConfig) -> SiloTrainConfig:
    return SiloTrainConfig(dp=bool(run.get("dp", True)),
                       noise_multiplier=float(run.get("noise-multiplier", 1.1)),
                       max_grad_norm=float(run.get("max-grad-norm", 1.0))).validate()


def _client_fn(context: Context) -> Client:
    run, node = context.run_config, context.node_config
    silo, n_silos = int(node["partition-id"]), int(node["num-partitions"])
    seed, n_rows = int(run.get("seed", 0)), int(run.get("n-rows", 400))
    # Embedded data: each SuperNode draws its own firm's rows; a real firm loads its own.
    frame = make_silos(n_silos, seed, n_rows)[silo]
    return SiloClient(silo_name(silo), frame, _train_config(run), seed=seed).to_client()


client_app = ClientApp(client_fn=_client_fn)


def _server_fn(context: Context) -> ServerAppComponents:
    run = context.run_config
    n_silos, seed = int(run.get("num-silos", 3)), int(run.get("seed", 0))
    n_rows, rounds = int(run.get("n-rows", 400)), int(run.get("rounds", 2))
    train = _train_config(run)
    start = current(seed=seed)
    x_test, y_test = to_arrays(make_test_set(n_silos, seed))
    eval_model = build_model(seed=seed)

    def evaluate_fn(server_round: int, arrays: NDArrays,
                    _config: dict[str, Scalar]) -> tuple[float, dict[str, Scalar]]:
        set_parameters(eval_model, arrays)
        loss, accuracy = evaluate(eval_model, x_test, y_test)
        if server_round > 0:  # keep every new global model, by hash, with its round
            promote(start.round + server_round, save_model(arrays))
        return loss, {"accuracy": accuracy}

    strategy = make_server_strategy(
        str(run.get("method", "median")), n_silos=n_silos, initial=start.parameters,
        evaluate_fn=evaluate_fn, first_round=start.round)
    if train.dp:
        ledger = PrivacyLedger()
        tenants = silo_names(n_silos)
        cost = train.cost(n_rows)
        strategy.before_round = lambda r: ledger.spend(
            tenants, cost, f"flower-run-{context.run_id}/round-{start.round + r}")
    return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))


server_app = ServerApp(server_fn=_server_fn)
