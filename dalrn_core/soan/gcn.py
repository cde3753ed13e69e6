"""Two-layer GCN latency predictor and the baselines it must beat.

Kipf and Welling (2017), "Semi-supervised classification with graph convolutional
networks", ICLR: each layer computes H' = sigma(D^-1/2 (A + I) D^-1/2 H W). The self-loops
(A + I) keep an agent's own load in its update; the symmetric degree normalisation weights
a neighbour j of i by 1 / sqrt(d_i d_j), close to the share of j's referrals that reach i.
A small MLP head reads the second layer together with the agent's own (normalised)
features, because latency is a steep nonlinear function (1 / (mu - lambda)) of the load
the layers aggregate.
The model predicts log latency, so squared error on it approximates relative error, which
is what MAPE scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv

from dalrn_core.errors import InputError
from dalrn_core.soan.dataset import Sample


class LatencyGCN(nn.Module):
    """GCNConv -> ReLU -> GCNConv -> ReLU -> MLP([h, x]) -> log latency per node."""

    def __init__(self, in_features: int, hidden: int = 32, plain: bool = False) -> None:
        super().__init__()
        # plain=True drops self-loops and normalisation (raw neighbour sums): the ablation
        norm = not plain
        self.conv1 = GCNConv(in_features, hidden, add_self_loops=norm, normalize=norm)
        self.conv2 = GCNConv(hidden, hidden, add_self_loops=norm, normalize=norm)
        self.head = nn.Sequential(
            nn.Linear(hidden + in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x, edge_index))
        h = torch.relu(self.conv2(h, edge_index))
        out: torch.Tensor = self.head(torch.cat([h, x], dim=1))
        return out.squeeze(-1)


@dataclass
class GCNTrainConfig:
    """How `train_gcn` trains the latency predictor (full-batch Adam on log latency)."""

    hidden: int = 32
    epochs: int = 400
    lr: float = 0.01
    weight_decay: float = 1e-5
    seed: int = 0
    plain: bool = False


@dataclass
class Predictor:
    """A trained model with the feature scaling it was trained with."""

    model: LatencyGCN
    x_mean: np.ndarray
    x_std: np.ndarray
    config: GCNTrainConfig = field(default_factory=GCNTrainConfig)
    train_seeds: list[int] = field(default_factory=list)

    def predict(self, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """Predicted latency per node of one graph (features, PyG edge index)."""
        return self.predict_many([(x, edges)])[0]

    def predict_many(self, graphs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """One forward pass over the disjoint union of many graphs; latency per node each."""
        batch = Batch.from_data_list([_data(self._scale(x), e) for x, e in graphs])
        self.model.eval()
        with torch.no_grad():
            out = torch.exp(self.model(batch.x, batch.edge_index)).numpy()
        sizes = [x.shape[0] for x, _ in graphs]
        return np.split(out.astype(float), np.cumsum(sizes)[:-1])

    def _scale(self, x: np.ndarray) -> npt.NDArray[np.float32]:
        scaled: npt.NDArray[np.float32] = ((x - self.x_mean) / self.x_std).astype(np.float32)
        return scaled


def _data(x: np.ndarray, edges: np.ndarray,
          targets: tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.bool_]] | None = None) -> Data:
    """One PyG graph; `targets` (latency, trusted mask) only for training."""
    data = Data(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edges, dtype=np.int64)),
    )
    if targets is not None:
        y, mask = targets
        data.y = torch.from_numpy(np.log(np.maximum(y, 1e-6)).astype(np.float32))
        data.mask = torch.from_numpy(mask)
    return data


def train_gcn(train: list[Sample], config: GCNTrainConfig | None = None) -> Predictor:
    """Full-batch Adam on masked squared error of log latency over all training networks."""
    config = config or GCNTrainConfig()
    if not train:
        raise InputError.one("train", "needs at least one network")
    torch.manual_seed(config.seed)
    x_all = np.concatenate([s.x for s in train])
    x_mean, x_std = x_all.mean(axis=0), x_all.std(axis=0) + 1e-6
    model = LatencyGCN(x_all.shape[1], config.hidden, config.plain)
    predictor = Predictor(model, x_mean, x_std, config, sorted(s.seed for s in train))
    batch = Batch.from_data_list(
        [_data(predictor._scale(s.x), s.edge_index, (s.y, s.mask)) for s in train]
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        model.train()
        optimiser.zero_grad()
        out = model(batch.x, batch.edge_index)
        loss = torch.mean((out[batch.mask] - batch.y[batch.mask]) ** 2)
        torch.autograd.backward(loss)  # what loss.backward() calls; that method is unannotated
        optimiser.step()
    return predictor


def mape(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    return float(np.mean(np.abs(pred - target) / np.abs(target)) * 100.0)


def _masked(samples: list[Sample], target: str) -> tuple[np.ndarray, np.ndarray]:
    xs = np.concatenate([s.x[s.mask] for s in samples])
    ys = np.concatenate([getattr(s, target)[s.mask] for s in samples])
    return xs, ys


def evaluate(
    predictor: Predictor, train: list[Sample], test: list[Sample], target: str = "y"
) -> dict[str, float]:
    """Held-out MAPE of the GCN, a mean predictor and linear regressions on the same features.

    The mean predictor answers the training mean latency everywhere. One linear model is
    fitted to latency, one to log latency (exponentiated back); both by least squares on
    the standardised features with an intercept.
    """
    x_tr, y_tr = _masked(train, "y")
    x_te, y_te = _masked(test, target)
    gcn = np.concatenate(
        [
            p[s.mask]
            for p, s in zip(predictor.predict_many([(s.x, s.edge_index) for s in test]), test)
        ]
    )

    def design(x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(x)), (x - predictor.x_mean) / predictor.x_std])

    coef_raw = np.linalg.lstsq(design(x_tr), y_tr, rcond=None)[0]
    coef_log = np.linalg.lstsq(design(x_tr), np.log(y_tr), rcond=None)[0]
    linear_raw = np.maximum(design(x_te) @ coef_raw, 1e-6)
    return {
        "gcn": mape(gcn, y_te),
        "mean": mape(np.full_like(y_te, y_tr.mean()), y_te),
        "linear": mape(linear_raw, y_te),
        "linear_log": mape(np.exp(design(x_te) @ coef_log), y_te),
    }
