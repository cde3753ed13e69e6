"""Local training of one silo: plain SGD, or DP-SGD with Opacus.

DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy", CCS): every step
Poisson-samples each example with probability q = batch_size / n, clips each example's
gradient to L2 norm C (`max_grad_norm`), sums, adds N(0, (sigma C)^2) noise, and averages.
Opacus implements the per-example clipping and the noise; we choose the parameters and
count the steps, so `cost()` is exactly what the silo's privacy ledger must be charged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dalrn_core.errors import InputError, Problem
from dalrn_core.fl.ledger import RoundCost

# Two known, harmless warnings, filtered by message (a process-wide filter: silos train in
# threads, and `warnings.catch_warnings` is not thread-safe):
# - Opacus is not in secure_mode (its CSPRNG needs torchcsprng); our seeded generators are
#   what make runs reproducible, and secure_mode would forbid them.
# - Opacus' hooks make torch note that the inputs need no gradient; they do not.
warnings.filterwarnings("ignore", message="Secure RNG turned off", category=UserWarning)
warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)


@dataclass(frozen=True)
class SiloTrainConfig:
    """How each silo trains in one round.

    `dp=False` trains with plain minibatch SGD (no privacy; for experiments only).
    """

    lr: float = 2.0
    local_epochs: int = 1
    batch_size: int = 40
    dp: bool = True
    noise_multiplier: float = 1.1
    max_grad_norm: float = 1.0

    def validate(self) -> SiloTrainConfig:
        problems = []
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            problems.append(Problem("lr", "must be a finite number > 0"))
        for field in ("local_epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(Problem(field, "must be an integer >= 1"))
        if not (isinstance(self.noise_multiplier, (int, float)) and self.noise_multiplier > 0):
            problems.append(Problem("noise_multiplier", "must be a number > 0"))
        if not (isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0):
            problems.append(Problem("max_grad_norm", "must be a number > 0"))
        if problems:
            raise InputError(problems, subject="training config")
        return self

    def steps_per_epoch(self, n_rows: int) -> int:
        """Batches per epoch: ceil(n / batch_size), as torch's DataLoader counts them."""
        return math.ceil(n_rows / self.batch_size)

    def cost(self, n_rows: int) -> RoundCost:
        """Privacy cost of one round on `n_rows` examples (q = 1 / batches per epoch)."""
        per_epoch = self.steps_per_epoch(n_rows)
        return RoundCost(self.noise_multiplier, 1.0 / per_epoch, per_epoch * self.local_epochs)


@dataclass(frozen=True)
class TrainResult:
    """What local training did: steps taken, the sampling rate, the mean training loss."""

    steps: int
    sample_rate: float
    loss: float
    # Opacus' own accountant history for the round, [(sigma, q, steps)]; empty without DP.
    # Kept so tests can check that `SiloTrainConfig.cost` charges exactly what Opacus counted.
    opacus_history: tuple[tuple[float, float, int], ...]


def local_train(model: nn.Module, x: np.ndarray, y: np.ndarray, config: SiloTrainConfig,
                seed: int) -> TrainResult:
    """Train `model` in place on (x, y) for `config.local_epochs` epochs.

    Parameters
    ----------
    model : torch.nn.Module
        Starts at the global parameters; ends at the silo's update.
    x, y : numpy.ndarray
        Features (float32 [n, d]) and 0/1 labels (float32 [n]).
    config : SiloTrainConfig
    seed : int
        Seeds batch sampling and DP noise (a private generator, so concurrent silos
        in threads do not share random state).

    Returns
    -------
    TrainResult
    """
    config.validate()
    if len(x) == 0:
        raise InputError.one("x", "must hold at least one row")
    data_gen = torch.Generator().manual_seed(seed)
    dataset = TensorDataset(torch.tensor(x, dtype=torch.float32),
                            torch.tensor(y, dtype=torch.float32))
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=data_gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    model.train()  # Opacus refuses a model left in eval mode (e.g. after `evaluate`)
    engine = None
    if config.dp:
        # Imported here: Opacus is only needed when training privately.
        from opacus import PrivacyEngine

        noise_gen = torch.Generator().manual_seed(seed + 1_000_003)
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader,
            noise_multiplier=config.noise_multiplier, max_grad_norm=config.max_grad_norm,
            poisson_sampling=True, noise_generator=noise_gen)
    model.train()
    steps, total, count = _epochs(model, optimizer, loader, config.local_epochs)
    history = tuple(tuple(h) for h in engine.accountant.history) if engine else ()
    sample_rate = 1.0 / len(loader) if config.dp else config.batch_size / len(x)
    return TrainResult(steps=steps, sample_rate=sample_rate,
                       loss=total / count if count else float("nan"), opacus_history=history)


def _epochs(model: nn.Module, optimizer: torch.optim.Optimizer,
            loader: DataLoader[tuple[torch.Tensor, ...]], epochs: int) -> tuple[int, float, int]:
    """Run the SGD loop; returns (steps, summed loss, examples seen)."""
    steps, total, count = 0, 0.0, 0
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            if len(xb) == 0:
                # An empty Poisson batch is still a DP step (noise only); Opacus handles
                # the zero-length batch, and the sum over no rows is 0.
                loss = model(xb).sum()
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    model(xb).squeeze(-1), yb)
                total += loss.item() * len(xb)
                count += len(xb)
            loss.backward()
            optimizer.step()
            steps += 1
    return steps, total, count
